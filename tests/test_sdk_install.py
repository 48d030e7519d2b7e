"""Installing the user-code zone's packages alone must not bring the DB layer or the signer
(ADR 0003).

Each test builds a fresh virtual environment and installs only the package under test with its
Airlock dependencies, from this checkout: the Task SDK (with ``libs/models``), then the worker and
the DAG processor (each with models and the SDK). It then proves from inside that environment that
no database driver, SQLAlchemy, Litestar, PyJWT, cryptography or ``airlock.core`` can be imported,
and that the package's own main module imports without them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Importable names that must be absent from the user-code zone: DB drivers (``sqlite3`` of the
#: standard library is fine), the ORM and migrations, the API framework, the token signer's
#: libraries, and Airlock's own control-plane packages.
FORBIDDEN = [
    "psycopg",
    "psycopg2",
    "asyncpg",
    "pysqlite2",
    "aiosqlite",
    "sqlalchemy",
    "alembic",
    "litestar",
    "jwt",
    "cryptography",
    "airlock.core",
    "airlock.db",
    "airlock.scheduling",
]


def install_alone(tmp_path: Path, *packages: str) -> Path:
    """A throwaway venv with only ``packages`` (paths under the checkout) and what they need;
    its Python."""
    uv = shutil.which("uv")
    assert uv, "uv is needed to build the throwaway environment"
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python)]
        + [str(ROOT / package) for package in packages],
        check=True,
        timeout=300,
    )
    return python


def importable(python: Path, main_module: str) -> dict[str, bool]:
    """Which of FORBIDDEN the venv can import, after importing ``main_module`` there."""
    script = (
        f"import importlib, importlib.util, json; importlib.import_module({main_module!r}); "
        f"print(json.dumps({{n: importlib.util.find_spec(n) is not None for n in {FORBIDDEN!r}}}))"
    )
    probe = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert probe.returncode == 0, probe.stderr
    result: dict[str, bool] = json.loads(probe.stdout)
    return result


@pytest.mark.slow
@pytest.mark.parametrize(
    ("packages", "main_module"),
    [
        (["libs/models", "libs/sdk"], "airlock.sdk"),
        (["libs/models", "libs/sdk", "services/worker"], "airlock.worker.supervisor"),
        (["libs/models", "libs/sdk", "services/dag_processor"], "airlock.dag_processor.processor"),
    ],
    ids=["sdk", "worker", "dag_processor"],
)
def test_a_user_zone_package_alone_has_no_db_layer_or_signer(
    tmp_path: Path, packages: list[str], main_module: str
) -> None:
    python = install_alone(tmp_path, *packages)
    found = importable(python, main_module)
    assert found.keys() == set(FORBIDDEN)
    assert not [name for name, present in found.items() if present], found
