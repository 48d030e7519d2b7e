"""What can be checked of `deploy/` without a container engine or Kubernetes (ADR 0025).

- ``deploy/compose.yaml``: each service on its zone's networks only, ``control`` internal, each
  secret given only to the zone that needs it, no control-only setting outside control, a
  healthcheck per service; ``docker compose config`` (or ``docker-compose config``) validates it
  where that command exists.
- The Helm chart: no ``helm`` binary can be installed from the registries here, and rendering Go
  templates without it would mean writing a template engine. So its values are checked against
  the compose file (same services, zones, settings, secrets, arguments and healthchecks), every
  ``.Values`` path its templates use exists, its template blocks are balanced, and it makes the
  kinds the zones need.
- The Dockerfile: its targets, a non-root user, compiled bytecode, no compiler, a healthcheck
  and an entry point per target, and every file it copies exists.
- What the images run: the slim install (``deploy/install-slim.sh``) in a fresh environment has
  no DB layer and no signer and refuses a DB URL; ``deploy/init.sh`` migrates and makes each
  zone's secrets; ``deploy/healthcheck.py`` against a real API.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml

from airlock.core.tokens.keys import load_public_key
from tests.support.processes import ApiServer, free_port

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "airlock"

#: The zone each service runs in, and for an API the zone it serves.
ZONE = {
    "postgres": "control",
    "init": "control",
    "scheduler": "control",
    "web-api": "control",
    "execution-api": "control",
    "internal-api": "control",
    "worker": "execution",
    "dag-processor": "processing",
    "triggerer": "processing",
    "callback-processor": "processing",
    "otel-collector": "control",
}
#: Third-party images without a shell or Python to run a healthcheck command in.
NO_HEALTHCHECK = {"init", "otel-collector"}
SERVES = {"web-api": "public", "execution-api": "execution", "internal-api": "processing"}
#: Secrets only the control zone may hold.
CONTROL_SECRETS = {"postgres_password", "control_config", "signing_key", "secrets_key"}
CONTROL_ONLY_ENV = ("AIRLOCK_DATABASE__", "AIRLOCK_AUTH__PRIVATE_KEY_FILE", "AIRLOCK_SECRETS__")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_compose_puts_each_service_on_its_zones_networks_only() -> None:
    spec = compose()
    assert spec["networks"]["control"] == {"internal": True}
    assert set(spec["networks"]) == {"public", "execution", "processing", "control"}
    assert set(spec["services"]) == set(ZONE)
    for name, service in spec["services"].items():
        expected = {ZONE[name], SERVES[name]} if name in SERVES else {ZONE[name]}
        assert set(service["networks"]) == expected, name
    published = [name for name, service in spec["services"].items() if service.get("ports")]
    assert published == ["web-api"]


def test_compose_gives_each_secret_only_to_its_zone() -> None:
    spec = compose()
    declared = set(spec["secrets"])
    used: set[str] = set()
    for name, service in spec["services"].items():
        secrets = set(service.get("secrets", []))
        used |= secrets
        assert secrets <= declared, name
        if ZONE[name] != "control":
            assert not secrets & CONTROL_SECRETS, f"{name} is given {secrets & CONTROL_SECRETS}"
            assert secrets == {f"{name.replace('-', '_')}_token"}, name
            env = service["environment"]
            assert not [k for k in env if k.startswith((*CONTROL_ONLY_ENV, "AIRLOCK_CONFIG"))]
    assert used == declared
    assert "signing_key" not in spec["services"]["internal-api"]["secrets"]
    for token in ("worker_token", "dag_processor_token", "triggerer_token"):
        holders = [n for n, s in spec["services"].items() if token in s.get("secrets", [])]
        assert len(holders) == 1, (token, holders)


def test_compose_runs_the_slim_images_outside_control_with_healthchecks() -> None:
    spec = compose()
    for name, service in spec["services"].items():
        target = service.get("build", {}).get("target")
        if ZONE[name] == "execution":
            assert target == "worker"
        elif ZONE[name] == "processing":
            assert target == "processing"
        elif name not in ("postgres", "otel-collector"):
            assert target == "all"
        if name not in NO_HEALTHCHECK:
            assert service["healthcheck"]["test"][0] == "CMD", name
    assert spec["services"]["init"]["profiles"] == ["init"]
    assert spec["services"]["otel-collector"]["profiles"] == ["telemetry"]


def test_compose_settings_are_the_readme_recipes() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Splitting services across machines", 1)[1].split("\n## ", 1)[0]
    for name, service in compose()["services"].items():
        if ZONE[name] in ("execution", "processing"):
            for setting in service["environment"]:
                assert setting in section, f"{name}: {setting} is not in the README's recipe"


def compose_validator() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_file_validates_with_the_compose_cli() -> None:
    command = compose_validator()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    checked = subprocess.run(
        [*command, "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


def chart_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def test_the_chart_has_the_compose_files_shape() -> None:
    spec = compose()["services"]
    values = chart_values()
    assert set(values["services"]) == set(ZONE) - {"postgres", "init", "otel-collector"}
    targets = {"all": "all", "worker": "worker", "processing": "processing"}
    for name, service in values["services"].items():
        assert service["zone"] == ZONE[name], name
        assert service.get("serves") == SERVES.get(name), name
        assert service["args"] == spec[name]["command"], name
        assert service["env"] == spec[name]["environment"], name
        assert service["secrets"] == spec[name]["secrets"], name
        assert targets[service["image"]] == spec[name]["build"]["target"], name
        if "port" in service:
            assert str(service["port"]) in service["args"]
            assert service["health"] in " ".join(spec[name]["healthcheck"]["test"])
        else:
            assert service["healthcheck"] == spec[name]["healthcheck"]["test"][1:], name
    secret_keys = {
        "control": {"control_config", "signing_key", "public_key", "secrets_key"},
        "execution": {"worker_token"},
        "processing": {"dag_processor_token", "triggerer_token", "callback_processor_token"},
    }
    secrets_yaml = (CHART / "templates" / "secrets.yaml").read_text()
    for zone, keys in secret_keys.items():
        assert f"name: {{{{ .Release.Name }}}}-{zone}" in secrets_yaml
        for key in keys:
            assert f"  {key}: {{{{ required" in secrets_yaml
    for name, service in values["services"].items():
        assert set(service["secrets"]) <= secret_keys[service["zone"]], name


def value_paths(values: Any, prefix: str = "") -> set[str]:
    paths = {prefix} if prefix else set()
    if isinstance(values, dict):
        for key, value in values.items():
            paths |= value_paths(value, f"{prefix}.{key}" if prefix else key)
    return paths


def test_the_chart_templates_use_only_values_that_exist_and_balance() -> None:
    known = value_paths(chart_values())
    kinds: set[str] = set()
    for template in sorted((CHART / "templates").iterdir()):
        text = template.read_text()
        assert text.count("{{") == text.count("}}"), template.name
        for path in re.findall(r"\.Values\.([A-Za-z0-9_.]+)", text):
            assert path.rstrip(".") in known, (
                f"{template.name}: .Values.{path} is not in values.yaml"
            )
        actions = re.findall(r"{{-?\s*(if|range|with|define|end)\b", text)
        opened = sum(1 for a in actions if a != "end")
        assert opened == actions.count("end"), f"{template.name}: {actions}"
        kinds |= set(re.findall(r"^kind: (\w+)$", text, flags=re.MULTILINE))
    assert {"Deployment", "Service", "NetworkPolicy", "Secret", "Job"} <= kinds
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "airlock"
    policies = (CHART / "templates" / "networkpolicies.yaml").read_text()
    assert '"execution" "execution-api" "processing" "internal-api"' in policies


def dockerfile_stages() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text()
    stages: dict[str, str] = {}
    for block in re.split(r"^(?=FROM )", text, flags=re.MULTILINE)[1:]:
        name = re.match(r"FROM \S+ AS (\S+)", block)
        assert name, block.splitlines()[0]
        stages[name.group(1)] = block
    return stages


def test_the_dockerfile_targets() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = dockerfile_stages()
    assert {"all", "worker", "processing"} <= set(stages)
    assert not re.search(r"\b(gcc|g\+\+|build-essential|clang|make)\b", text)
    assert "UV_COMPILE_BYTECODE=1" in stages["build"]
    assert "--package airlock-cli" in stages["build-all"]
    assert "install-slim.sh /opt/airlock airlock-worker" in stages["build-worker"]
    assert "airlock-dag-processor airlock-triggerer airlock-callback-processor" in " ".join(
        stages["build-processing"].split()
    )
    for target, entrypoint in (
        ("all", "airlock"),
        ("worker", "airlock-zone"),
        ("processing", "airlock-zone"),
    ):
        block = stages[target]
        assert block.startswith("FROM runtime AS"), target
        assert "USER airlock" in block, target
        assert "HEALTHCHECK" in block, target
        assert f'ENTRYPOINT ["{entrypoint}"]' in block, target
        assert "build-all" not in block or target == "all"
    assert "useradd --system --uid 10001" in stages["runtime"]
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.MULTILINE):
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"


def test_the_slim_closure_from_the_lock_has_no_db_layer_or_signer() -> None:
    exported = subprocess.run(
        ["uv", "export", "--frozen", "--no-dev", "--no-emit-workspace", "--no-hashes"]
        + [
            arg
            for p in (
                "airlock-worker",
                "airlock-dag-processor",
                "airlock-triggerer",
                "airlock-callback-processor",
            )
            for arg in ("--package", p)
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    names = {line.split("==")[0].lower() for line in exported.splitlines() if "==" in line}
    assert "httpx" in names
    assert not names & {
        "sqlalchemy",
        "alembic",
        "psycopg",
        "psycopg-binary",
        "pyjwt",
        "cryptography",
        "litestar",
    }


SLIM_FORBIDDEN = [
    "sqlalchemy",
    "alembic",
    "psycopg",
    "psycopg2",
    "jwt",
    "cryptography",
    "litestar",
    "airlock.db",
    "airlock.scheduling",
    "airlock.core.tokens",
    "airlock.core.secrets_key",
    "airlock.core.http",
    "airlock.web",
    "airlock.execution",
    "airlock.internal",
]


@pytest.mark.slow
def test_the_slim_worker_install_runs_the_worker_without_db_layer_or_signer(tmp_path: Path) -> None:
    venv = tmp_path / "slim"
    subprocess.run(
        ["sh", str(DEPLOY / "install-slim.sh"), str(venv), "airlock-worker"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    python = venv / "bin" / "python"
    probe = (
        "import importlib, importlib.util, json; importlib.import_module('airlock.cli.zone'); "
        "importlib.import_module('airlock.worker.supervisor'); "
        f"print(json.dumps([n for n in {SLIM_FORBIDDEN!r} if importlib.util.find_spec(n)]))"
    )
    found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(found.stdout) == []
    assert not (venv / "bin" / "airlock").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env["AIRLOCK_HOME"] = str(tmp_path / "home")
    helped = subprocess.run(
        [str(venv / "bin" / "airlock-zone"), "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "worker" in helped.stdout
    assert "dag-processor" not in helped.stdout, "only the installed services are offered"
    refused = subprocess.run(
        [str(venv / "bin" / "airlock-zone"), "worker"],
        env=env | {"AIRLOCK_DATABASE__URL": "postgresql://x@db/airlock"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "must not be given [database] url (AIRLOCK_DATABASE__URL)" in refused.stderr


def run_init(out: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "AIRLOCK_HOME": str(out.parent / "home"),
            "AIRLOCK_CONFIG": str(config),
            "INIT_SECRETS_DIR": str(out),
            "INIT_BUNDLES": "dags,more",
        }
    )
    return subprocess.run(
        ["sh", str(DEPLOY / "init.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_init_migrates_and_makes_each_zones_secrets(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    out.mkdir()
    config = out / "control.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "airlock.db"}"\n')
    first = run_init(out, config)
    assert first.returncode == 0, first.stderr
    made = {p.name for p in out.iterdir()}
    assert made == {
        "control.toml",
        "jwt_signing.pem",
        "jwt_public.pem",
        "secrets.key",
        "worker.token",
        "dag-processor.token",
        "triggerer.token",
        "callback-processor.token",
        "admin-password",
    }
    key = load_public_key(out / "jwt_public.pem")
    expected = {
        "worker.token": ("execution", None),
        "dag-processor.token": ("internal", "dag-processor"),
        "triggerer.token": ("internal", "triggerer"),
        "callback-processor.token": ("internal", "callback-processor"),
    }
    for name, (audience, role) in expected.items():
        claims = jwt.decode(
            (out / name).read_text().strip(), key, algorithms=["EdDSA"], audience=audience
        )
        if role:
            assert claims["role"] == role
            assert claims["bundles"] == ["dags", "more"]
    if os.geteuid() == 0:
        for path in out.iterdir():
            mode = 0o400 if path.name == "admin-password" else 0o440
            assert (path.stat().st_gid, path.stat().st_mode & 0o777) == (10001, mode), path
            assert path.stat().st_uid == out.stat().st_uid
    tokens = {name: (out / name).read_text() for name in expected}
    again = run_init(out, config)
    assert again.returncode == 0, again.stderr
    assert {name: (out / name).read_text() for name in expected} == tokens, "kept on a re-run"


def healthcheck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_healthcheck_probes_a_real_api(api: ApiServer) -> None:
    assert healthcheck(f"{api.url}/execution/health").returncode == 0
    env = os.environ | {"AIRLOCK_WORKER__API_URL": api.url + "/"}
    assert (
        healthcheck(
            "--setting", "AIRLOCK_X,AIRLOCK_WORKER__API_URL", "/internal/health", env=env
        ).returncode
        == 0
    )
    missing = healthcheck(f"{api.url}/execution/no-such-path")
    assert missing.returncode == 1
    assert "answered 404" in missing.stderr
    closed = healthcheck(f"http://127.0.0.1:{free_port()}/api/v1/health")
    assert closed.returncode == 1
    assert "refused" in closed.stderr.lower()
    unset = healthcheck(
        "--setting", "AIRLOCK_NOT_SET_ANYWHERE", "/x", env={"PATH": os.environ["PATH"]}
    )
    assert unset.returncode == 1
    assert "AIRLOCK_NOT_SET_ANYWHERE is set" in unset.stderr
