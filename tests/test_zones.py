"""ADR 0001: a process outside the control zone finds no DB URL and no key, even under run-all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airlock.cli.commands.run_all import zone_env
from airlock.core.settings import load_settings

PROBE = """
import json, os
from airlock.core.settings import load_settings, ZoneError
s = load_settings()
try:
    url = s.database_url()
except ZoneError as exc:
    url = "refused: " + str(exc)
print(json.dumps({"zone": s.zone, "configured_url": s.database.url, "database_url": url,
                  "private_key_file": s.auth.private_key_file, "secrets": s.secrets.key_file,
                  "port": s.api.port,
                  "env_with_db": sorted(k for k, v in os.environ.items()
                                        if "db" in v.lower() and k.startswith("AIRLOCK_"))}))
"""


@pytest.mark.parametrize("zone", ["execution", "processing"])
def test_non_control_child_finds_no_database(
    zone: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "airlock.toml").write_text(
        '[database]\nurl = "postgresql://airlock:secret@db/airlock"\n'
        '[auth]\nprivate_key_file = "/keys/signing.pem"\n[secrets]\nkey_file = "/keys/s.key"\n'
        "[api]\nport = 9123\n"
    )
    base = {
        "PATH": "/usr/bin:/bin",
        "AIRLOCK_HOME": str(tmp_path / "home"),
        "AIRLOCK_DATABASE__URL": "postgresql://airlock:secret@db/airlock",
        "AIRLOCK_SECRETS__KEY_FILE": "/keys/s.key",
    }
    settings = load_settings(environ=base)
    env = zone_env(settings, zone, base)  # type: ignore[arg-type]
    assert not any("secret@db" in value for value in env.values())
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    seen = json.loads(result.stdout)
    assert seen["zone"] == zone
    assert seen["configured_url"] is None
    assert seen["database_url"].startswith(f"refused: this process runs in the {zone} zone")
    assert seen["private_key_file"] is None
    assert seen["secrets"] is None
    assert seen["port"] == 9123, "the zone keeps its other settings"
    assert seen["env_with_db"] == []


def test_control_child_keeps_the_database(tmp_path: Path) -> None:
    base = {"AIRLOCK_HOME": str(tmp_path), "AIRLOCK_DATABASE__URL": "sqlite:///x.db"}
    env = zone_env(load_settings(environ=base, config_file=None), "control", base)
    assert env["AIRLOCK_DATABASE__URL"] == "sqlite:///x.db"
    assert env["AIRLOCK_ZONE"] == "control"
