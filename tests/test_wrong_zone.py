"""A service deployed into the wrong zone refuses to start, naming the setting (ADR 0025): a
worker or DAG processor given what only the control zone may hold, an API without a key one of
its apps needs. The refusal comes before any token is read or any API called."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import Home, start_api, stop

SERVICES = [
    ("worker", ["worker"], "execution"),
    ("DAG processor", ["dag-processor", "--bundle", "dags"], "processing"),
    ("triggerer", ["triggerer"], "processing"),
    ("callback processor", ["callback-processor"], "processing"),
]
CONTROL_ONLY = [
    ("AIRLOCK_DATABASE__URL", "postgresql://airlock:pw@db/airlock", "[database] url"),
    ("AIRLOCK_AUTH__PRIVATE_KEY_FILE", "/keys/jwt_signing.pem", "[auth] private_key_file"),
    ("AIRLOCK_SECRETS__KEY_FILE", "/keys/secrets.key", "[secrets] key_file"),
]


def airlock(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airlock.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env["AIRLOCK_HOME"] = str(home)
    return env


@pytest.mark.parametrize(("service", "args", "zone"), SERVICES, ids=[s[0] for s in SERVICES])
@pytest.mark.parametrize(
    ("variable", "value", "setting"), CONTROL_ONLY, ids=["db", "key", "secrets"]
)
def test_a_service_outside_control_refuses_a_control_only_setting(
    tmp_path: Path,
    service: str,
    args: list[str],
    zone: str,
    variable: str,
    value: str,
    setting: str,
) -> None:
    env = clean_env(tmp_path) | {variable: value}
    result = airlock(args, env)
    assert result.returncode == 2, result.stderr
    assert f"the {service} runs in the {zone} zone" in result.stderr
    assert f"{setting} ({variable})" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_refusal_also_covers_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "airlock.toml"
    config.write_text('[database]\nurl = "postgresql://airlock:pw@db/airlock"\n')
    env = clean_env(tmp_path) | {"AIRLOCK_CONFIG": str(config)}
    result = airlock(["worker"], env)
    assert result.returncode == 2
    assert "must not be given [database] url" in result.stderr


def test_a_service_without_control_settings_gets_past_the_check(tmp_path: Path) -> None:
    # No DB URL and no key: the worker goes on to the next check, its missing token.
    result = airlock(["worker"], clean_env(tmp_path))
    assert result.returncode == 2
    assert "the worker needs a worker token" in result.stderr


def split_home(home: Home, target: Path, keep: set[str]) -> Home:
    """A copy of ``home``'s settings whose key folder holds only ``keep``."""
    (target / "keys").mkdir(parents=True, mode=0o700)
    for name in keep:
        shutil.copy(home.path / "keys" / name, target / "keys" / name)
    env = home.env | {"AIRLOCK_HOME": str(target)}
    return Home(path=target, db_url=home.db_url, env=env)


@pytest.mark.parametrize(
    ("apps", "keep", "named"),
    [
        ("web", {"jwt_public.pem", "secrets.key"}, "the web API needs the private signing key"),
        (
            "internal,execution",
            {"jwt_public.pem", "secrets.key"},
            "the execution API needs the private signing key",
        ),
        (
            "internal",
            {"jwt_signing.pem", "secrets.key"},
            "the internal API needs the public verification key",
        ),
        (
            "execution",
            {"jwt_signing.pem", "jwt_public.pem"},
            "the execution API needs the secrets key",
        ),
    ],
)
def test_an_api_without_a_key_its_apps_need_names_it(
    home: Home, tmp_path: Path, apps: str, keep: set[str], named: str
) -> None:
    split = split_home(home, tmp_path / "split", keep)
    result = split.airlock("api", "--apps", apps, check=False)
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert f"--apps {apps}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_internal_api_serves_without_the_signing_key(home: Home, tmp_path: Path) -> None:
    split = split_home(home, tmp_path / "internal", {"jwt_public.pem", "secrets.key"})
    server = start_api(split, "internal")
    try:
        assert server.client().get("/internal/health").status_code == 200
    finally:
        stop(server)
