"""The zones of DESIGN §1, proven with real processes in Linux network namespaces (ADR 0025).

A control namespace holds a private PostgreSQL (this machine's binaries, its own data folder),
the Web, Execution and Internal APIs as three processes, and the scheduler. The execution
namespace runs a worker, the processing namespace the DAG processor, the triggerer and the
callback processor (each from its zone's slim install, ``deploy/install-slim.sh``: no DB layer,
no signer), and the public namespace the `airlock` CLI of a person. Each zone is joined
to the control namespace by its own veth pair, every control address is routable from it, and
the control namespace's nftables ruleset lets each zone's link reach only its own API's port.

Every process is started with exactly the settings the README's "Splitting services across
machines" lists for its zone (:data:`ZONE_SETTINGS`; a test checks the README names each one).
The tests show that a DAG parses, runs (one task deferring to the triggerer) and succeeds across
the namespaces, and its success callback runs; that from each zone only its API answers, while PostgreSQL, the Web API and the
other zone's API are refused; and that no process outside control has the DB URL or a key in its
environment, arguments, open files or home.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import service_unreachable
from tests.support.netns import Hub, NamespacesUnavailable, why_unavailable
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PG_PORT = 5432  # inside the control namespace: it collides with nothing outside it
API_PORTS = {"web": 8080, "execution": 8081, "internal": 8082}
#: The one port each zone's link may reach in the control namespace.
ALLOWED = {"public": 8080, "execution": 8081, "processing": 8082}
ZONES = ["execution", "processing", "public"]  # link numbers 1, 2, 3

#: Every setting each zone's processes get (besides AIRLOCK_HOME), as the README documents them;
#: ``{…}`` are filled in by the test.
ZONE_SETTINGS: dict[str, dict[str, str]] = {
    "control": {"AIRLOCK_DATABASE__URL": "{db_url}"},
    "internal-api": {
        "AIRLOCK_DATABASE__URL": "{db_url}",
        "AIRLOCK_AUTH__PUBLIC_KEY_FILE": "{home}/keys/jwt_public.pem",
        "AIRLOCK_SECRETS__KEY_FILE": "{home}/keys/secrets.key",
    },
    "dag-processor": {
        "AIRLOCK_DAG_PROCESSOR__API_URL": "{internal_url}",
        "AIRLOCK_DAG_PROCESSOR__TOKEN_FILE": "{home}/dag-processor.token",
        "AIRLOCK_DAG_PROCESSOR__BUNDLES": "zones={bundle}",
    },
    "triggerer": {
        "AIRLOCK_TRIGGERER__API_URL": "{internal_url}",
        "AIRLOCK_TRIGGERER__TOKEN_FILE": "{home}/triggerer.token",
        "AIRLOCK_TRIGGERER__BUNDLES": "zones={bundle}",
    },
    "callback-processor": {
        "AIRLOCK_CALLBACK_PROCESSOR__API_URL": "{internal_url}",
        "AIRLOCK_CALLBACK_PROCESSOR__TOKEN_FILE": "{home}/callback-processor.token",
        "AIRLOCK_CALLBACK_PROCESSOR__BUNDLES": "zones={bundle}",
    },
    "worker": {
        "AIRLOCK_WORKER__API_URL": "{execution_url}",
        "AIRLOCK_WORKER__TOKEN_FILE": "{home}/worker.token",
        "AIRLOCK_WORKER__BUNDLES": "zones={bundle}",
    },
    "public": {"AIRLOCK_CLIENT__API_URL": "{web_url}"},
}

DAG_FILE = """
import asyncio
from datetime import datetime

from airlock.sdk import DAG, BaseOperator, BaseTrigger, TriggerEvent, task


class Pause(BaseTrigger):
    def serialize(self):
        return f"{type(self).__module__}.Pause", {}

    async def run(self):
        await asyncio.sleep(0.5)
        yield TriggerEvent({"paused": True})


class WaitInTriggerer(BaseOperator):
    def execute(self, context):
        self.defer(trigger=Pause(), method_name="resume")

    def resume(self, context, event=None):
        return event


def announce(context):
    print("the zones run succeeded")


with DAG(dag_id="zones", schedule=None, start_date=datetime(2026, 1, 1),
         is_paused_upon_creation=False, on_success_callback=announce):

    @task
    def extract():
        return 21

    @task
    def double(n):
        return n * 2

    double(extract()) >> WaitInTriggerer(task_id="wait_in_triggerer")
"""


@dataclass
class Zones:
    hub: Hub
    base: Path
    db_url: str
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    firewall: str = ""
    open_before_firewall: dict[str, str] = field(default_factory=dict)

    def home(self, name: str) -> Path:
        path = self.base / "homes" / name
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def url(self, zone: str, api: str) -> str:
        return f"http://{self.hub.links[zone].hub_address}:{API_PORTS[api]}"

    def env(self, role: str, home: Path, **extra: str) -> dict[str, str]:
        values = {
            "db_url": self.db_url,
            "home": str(home),
            "bundle": str(self.base / "dags"),
            "internal_url": self.url("processing", "internal"),
            "execution_url": self.url("execution", "execution"),
            "web_url": self.url("public", "web"),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        env["AIRLOCK_HOME"] = str(home)
        env.update({k: v.format(**values) for k, v in ZONE_SETTINGS[role].items()})
        env.update(extra)
        return env

    def airlock(
        self, zone: str, env: dict[str, str], *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.hub.exec_prefix(zone), sys.executable, "-m", "airlock.cli", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def start(self, name: str, zone: str, env: dict[str, str], *args: str) -> None:
        """``airlock ARGS`` in ``zone``; outside control, ``airlock-zone ARGS`` from that
        zone's slim install (what its image holds)."""
        command = [sys.executable, "-m", "airlock.cli"]
        if zone != "control":
            command = [str(self.base / f"slim-{zone}" / "bin" / "airlock-zone")]
        with (self.logs / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [*self.hub.exec_prefix(zone), *command, *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def http_status(self, zone: str, url: str) -> int:
        script = (
            "import sys, urllib.request\n"
            "try:\n"
            "    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)\n"
            "except Exception as exc:\n"
            "    print(getattr(exc, 'code', 0))\n"
        )
        answer = subprocess.run(
            [*self.hub.exec_prefix(zone), sys.executable, "-c", script, url],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return int(answer.stdout.strip() or 0)

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.glob("*.log"))
        )


#: What each zone's image installs (deploy/install-slim.sh): no DB layer, no signer.
SLIM_INSTALLS = {
    "execution": ["airlock-worker"],
    "processing": ["airlock-dag-processor", "airlock-triggerer", "airlock-callback-processor"],
}


def install_slim(venv: Path, packages: list[str]) -> None:
    subprocess.run(
        ["sh", str(ROOT / "deploy" / "install-slim.sh"), str(venv), *packages],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def postgres_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    return found[-1].parent if found else None


@pytest.fixture(scope="module")
def zones() -> Iterator[Zones]:
    why = why_unavailable()
    if why:
        service_unreachable(f"network namespaces cannot be made here: {why}")
    pg_bin = postgres_binaries()
    if pg_bin is None:
        service_unreachable("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
        return
    # Not under pytest's tmp dir: the postgres user and `nobody` (user code) must reach it.
    base = Path(tempfile.mkdtemp(prefix="airlock-zones-"))
    base.chmod(0o755)
    hub = Hub()
    stack = Zones(hub, base, f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/postgres", base)
    stack.logs = base / "logs"
    stack.logs.mkdir()
    try:
        hub.open(ZONES)
        _start_postgres(stack, pg_bin)
        # The probe must be able to see a port open: before the firewall, it can.
        stack.open_before_firewall = hub.probe(
            "execution", [(hub.links["execution"].hub_address, PG_PORT)]
        )
        stack.firewall = hub.allow_only(ALLOWED)
        for zone, packages in SLIM_INSTALLS.items():
            install_slim(base / f"slim-{zone}", packages)
        _prepare_control(stack)
        _start_services(stack)
        yield stack
    except NamespacesUnavailable as exc:
        service_unreachable(f"network namespaces cannot be made here: {exc}")
    finally:
        for process in stack.processes.values():
            process.terminate()
        for process in stack.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        hub.close()
        shutil.rmtree(base, ignore_errors=True)


def _start_postgres(stack: Zones, pg_bin: Path) -> None:
    data = stack.base / "pgdata"
    data.mkdir(mode=0o700)
    shutil.chown(data, "postgres", "postgres")
    initdb = [str(pg_bin / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres"]
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *initdb, "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (stack.logs / "postgres.log").open("wb") as log:
        stack.processes["postgres"] = subprocess.Popen(
            [
                *stack.hub.exec_prefix("control"),
                *["runuser", "-u", "postgres", "--", str(pg_bin / "postgres")],
                *["-D", str(data), "-p", str(PG_PORT)],
                *["-c", "listen_addresses=*", "-c", f"unix_socket_directories={data}"],
                *["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    ready = [*stack.hub.exec_prefix("control"), str(pg_bin / "pg_isready")]
    ready += ["-h", "127.0.0.1", "-p", str(PG_PORT), "-q"]
    assert wait_until(
        lambda: subprocess.run(ready, check=False).returncode == 0, timeout_s=60, every_s=0.2
    ), stack.log_tail()


def _prepare_control(stack: Zones) -> None:
    """The README's control-plane steps: migrate, keys, an admin, and each zone's token."""
    control = stack.home("control")
    env = stack.env("control", control)
    for args in (["db", "migrate"], ["keys", "generate"]):
        done = stack.airlock("control", env, *args)
        assert done.returncode == 0, done.stderr
    made = stack.airlock(
        "control",
        env,
        "users",
        "create",
        "admin",
        "--role",
        "admin",
        "--password-stdin",
        stdin="zones-admin-password\n",
    )
    assert made.returncode == 0, made.stderr
    internal = stack.home("internal")
    (internal / "keys").mkdir(mode=0o700)
    for key in ("jwt_public.pem", "secrets.key"):
        shutil.copy(control / "keys" / key, internal / "keys" / key)
    tokens = {
        ("execution", "worker"): ["--kind", "worker"],
        ("processing", "dag-processor"): ["--kind", "service", "--role", "dag-processor"],
        ("processing", "triggerer"): ["--kind", "service", "--role", "triggerer"],
        ("processing", "callback-processor"): [
            "--kind",
            "service",
            "--role",
            "callback-processor",
        ],
    }
    for (zone, name), args in tokens.items():
        bundle = ["--bundle", "zones"] if "service" in args else []
        issued = stack.airlock("control", env, "tokens", "issue", *args, *bundle)
        assert issued.returncode == 0, issued.stderr
        write_private(stack.home(zone) / f"{name}.token", issued.stdout.strip())
    dags = stack.base / "dags"
    dags.mkdir(mode=0o755)
    (dags / "zones.py").write_text(textwrap.dedent(DAG_FILE))


def _start_services(stack: Zones) -> None:
    control, internal = stack.home("control"), stack.home("internal")
    for app in ("web", "execution"):
        stack.start(
            f"api-{app}",
            "control",
            stack.env("control", control),
            "api",
            "--apps",
            app,
            "--host",
            "0.0.0.0",
            "--port",
            str(API_PORTS[app]),
        )
    stack.start(
        "api-internal",
        "control",
        stack.env("internal-api", internal),
        "api",
        "--apps",
        "internal",
        "--host",
        "0.0.0.0",
        "--port",
        str(API_PORTS["internal"]),
    )
    stack.start("scheduler", "control", stack.env("control", control), "scheduler")
    for zone, api in (("public", "web"), ("execution", "execution"), ("processing", "internal")):
        health = f"{stack.url(zone, api)}/{'api/v1' if api == 'web' else api}/health"
        assert wait_until(lambda z=zone, h=health: stack.http_status(z, h) == 200, 60, 0.3), (
            f"{health} never answered from the {zone} zone\n{stack.log_tail()}"
        )
    processing, execution = stack.home("processing"), stack.home("execution")
    stack.start(
        "dag-processor",
        "processing",
        stack.env("dag-processor", processing),
        "dag-processor",
        "--bundle",
        "zones",
    )
    stack.start("triggerer", "processing", stack.env("triggerer", processing), "triggerer")
    stack.start(
        "callback-processor",
        "processing",
        stack.env("callback-processor", processing),
        "callback-processor",
    )
    stack.start("worker", "execution", stack.env("worker", execution), "worker")


def test_a_dag_parses_runs_and_succeeds_across_namespaces(zones: Zones) -> None:
    public = zones.env("public", zones.home("public"))
    login = zones.airlock(
        "public",
        public,
        "login",
        "-u",
        "admin",
        "--password-stdin",
        stdin="zones-admin-password\n",
    )
    assert login.returncode == 0, login.stderr

    def parsed() -> bool:
        return zones.airlock("public", public, "dags", "show", "zones").returncode == 0

    assert wait_until(parsed, timeout_s=60, every_s=0.5), zones.log_tail()
    run = zones.airlock("public", public, "dags", "trigger", "zones", "--wait")
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{zones.log_tail()}"
    listed = zones.airlock("public", public, "runs", "list", "--dag", "zones", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [run["state"] for run in json.loads(listed.stdout)["dag_runs"]] == ["success"]

    def callback_ran() -> bool:
        listed = zones.airlock(
            "public", public, "callbacks", "list", "--dag", "zones", "-o", "json"
        )
        return [c["state"] for c in json.loads(listed.stdout or "[]")] == ["success"]

    # The run's success callback, run by the callback processor in the processing namespace.
    assert wait_until(callback_ran, timeout_s=60, every_s=0.5), zones.log_tail()
    for name, process in zones.processes.items():
        assert process.poll() is None, f"{name} exited\n{zones.log_tail()}"


def test_each_zone_reaches_only_its_own_api(zones: Zones) -> None:
    execution_pg = f"{zones.hub.links['execution'].hub_address}:{PG_PORT}"
    assert zones.open_before_firewall == {execution_pg: "open"}, "the probe cannot see open ports"
    ports = [PG_PORT, *API_PORTS.values()]
    for zone in ZONES:
        targets = [(link.hub_address, port) for link in zones.hub.links.values() for port in ports]
        answers = zones.hub.probe(zone, targets)
        for (address, port), answer in zip(targets, answers.values(), strict=True):
            if port == ALLOWED[zone]:
                assert answer == "open", f"{zone} -> {address}:{port}: {answer}"
            else:
                assert answer in ("refused", "timeout", "unreachable"), (
                    f"{zone} reached {address}:{port} ({answer})\n{zones.firewall}"
                )
        api = {v: k for k, v in API_PORTS.items()}[ALLOWED[zone]]
        health = f"{zones.url(zone, api)}/{'api/v1' if api == 'web' else api}/health"
        assert zones.http_status(zone, health) == 200


def test_no_process_outside_control_holds_the_db_url_or_a_key(zones: Zones) -> None:
    control = zones.home("control")
    secrets = {
        "the DB URL": zones.db_url.encode(),
        "the DB's address": f"127.0.0.1:{PG_PORT}".encode(),
        "the signing key": (control / "keys" / "jwt_signing.pem").read_bytes().strip(),
        "the secrets key": (control / "keys" / "secrets.key").read_bytes().strip(),
        "the control home": str(control).encode(),
    }
    seen: dict[str, list[int]] = {}
    for zone in ("execution", "processing"):
        pids = zones.hub.pids(zone)
        seen[zone] = pids
        for pid in pids:
            proc = Path(f"/proc/{pid}")
            try:
                held = {
                    "environment": (proc / "environ").read_bytes(),
                    "arguments": (proc / "cmdline").read_bytes(),
                    "open files": "\n".join(
                        os.readlink(fd) for fd in (proc / "fd").iterdir()
                    ).encode(),
                }
            except (FileNotFoundError, ProcessLookupError):
                continue  # a parser or task that ended meanwhile
            for where, content in held.items():
                for what, secret in secrets.items():
                    assert secret not in content, f"pid {pid} in {zone} has {what} in its {where}"
            assert b"AIRLOCK_DATABASE__" not in held["environment"]
            assert b"AIRLOCK_AUTH__PRIVATE_KEY_FILE" not in held["environment"]
        for path in zones.home(zone).rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                for what, secret in secrets.items():
                    assert secret not in content, f"{path} in the {zone} zone holds {what}"
    commands = {
        zone: [
            Path(f"/proc/{pid}/cmdline").read_bytes()
            for pid in pids
            if Path(f"/proc/{pid}").exists()
        ]
        for zone, pids in seen.items()
    }
    assert any(b"worker" in c for c in commands["execution"]), commands
    for service in (b"dag-processor", b"triggerer", b"callback-processor"):
        assert any(service in c for c in commands["processing"]), commands


def test_the_readme_recipe_names_every_setting_the_zones_get() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Splitting services across machines", 1)[1].split("\n## ", 1)[0]
    for role, settings in ZONE_SETTINGS.items():
        for name in settings:
            assert name in section, f"the README's split recipe does not name {name} ({role})"
    assert "airlock api --apps internal" in section
    for port in ALLOWED.values():
        assert str(port) in section
