"""Installing the Task SDK alone must not bring the DB layer (ADR 0003).

Builds a fresh virtual environment, installs only ``libs/sdk`` (and ``libs/models``, its one
Airlock dependency), and proves SQLAlchemy is neither installed nor importable there.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sdk_alone_has_no_sqlalchemy(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv is needed to build the throwaway environment"
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            str(ROOT / "libs" / "models"),
            str(ROOT / "libs" / "sdk"),
        ],
        check=True,
        timeout=300,
    )
    installed = subprocess.run(
        [uv, "pip", "list", "--python", str(python)], check=True, capture_output=True, text=True
    ).stdout.lower()
    assert "airlock-sdk" in installed
    assert "sqlalchemy" not in installed
    assert "airlock-db" not in installed
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import airlock.sdk, importlib.util as u; "
            "print(u.find_spec('sqlalchemy'), u.find_spec('airlock.db'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["None", "None"]
