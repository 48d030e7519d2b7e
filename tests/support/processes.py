"""Real Airlock processes for cross-service tests: a home with keys and a migrated DB
(:func:`make_home`), API servers started with ``airlock api`` on free ports (:func:`start_api`),
tokens signed with that home's key, and the whole stack as a user starts it (:class:`RunAll`).
The root ``tests/conftest.py`` offers the first ones as fixtures (``home``, ``api``,
``started``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
import psutil

from airlock.core.tokens import TokenKind
from airlock.core.tokens.keys import load_private_key
from airlock.core.tokens.signer import TokenSigner

#: Environment variables of settings only the control zone may hold.
CONTROL_ONLY_ENV = ("AIRLOCK_DATABASE__", "AIRLOCK_AUTH__PRIVATE_KEY_FILE", "AIRLOCK_SECRETS__")
#: Tests' stacks store new DAGs unpaused (Airlock's default is paused, as Airflow's).
UNPAUSED_AT_CREATION = "AIRLOCK_INTERNAL__DAGS_ARE_PAUSED_AT_CREATION"


@dataclass
class Home:
    path: Path
    db_url: str
    env: dict[str, str] = field(default_factory=dict)

    def signer(self) -> TokenSigner:
        return TokenSigner(load_private_key(self.path / "keys" / "jwt_signing.pem"))

    def token(self, kind: TokenKind, sub: str = "tester", ttl_s: int = 600, **claims: Any) -> str:
        return self.signer().issue(kind, sub, ttl_s, **claims)

    def zone_env(self, zone: str, **settings: str) -> dict[str, str]:
        """This home's environment for a service of ``zone`` (``processing`` or ``execution``):
        without the DB URL and keys, which such a service refuses to start with."""
        env = {k: v for k, v in self.env.items() if not k.startswith(CONTROL_ONLY_ENV)}
        return {**env, "AIRLOCK_ZONE": zone, **settings}

    def airlock(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "airlock.cli", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )


def make_home(path: Path, db_url: str) -> Home:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIRLOCK_") or k.startswith("AIRLOCK_TEST_")
    }
    # A one-second clock leeway keeps the expired-token test short; the DAGs tests upload run
    # without being unpaused first.
    env.update(
        {
            "AIRLOCK_HOME": str(path),
            "AIRLOCK_DATABASE__URL": db_url,
            "AIRLOCK_AUTH__LEEWAY_S": "1",
            UNPAUSED_AT_CREATION: "false",
        }
    )
    home = Home(path=path, db_url=db_url, env=env)
    if not _copy_migrated_sqlite(db_url):
        home.airlock("db", "migrate")
        _keep_migrated_sqlite(db_url)
    home.airlock("keys", "generate")
    return home


#: A SQLite file ``airlock db migrate`` made in this test process: later homes get copies, so
#: the command (seconds of imports) runs once per process, not once per home.
_sqlite_template: dict[str, Path] = {}


def _sqlite_file(db_url: str) -> Path | None:
    return Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite:///") else None


def _copy_migrated_sqlite(db_url: str) -> bool:
    """Make ``db_url`` a copy of the migrated template, if it is a new SQLite file in a folder
    that exists (else the caller migrates it: a folder made here would skip the home's mode)."""
    target = _sqlite_file(db_url)
    template = _sqlite_template.get("migrated")
    if template is None or target is None or target.exists() or not target.parent.is_dir():
        return False
    shutil.copyfile(template, target)
    return True


def _keep_migrated_sqlite(db_url: str) -> None:
    source = _sqlite_file(db_url)
    # Only a file the migration left whole (no write-ahead log beside it) is copied.
    if _sqlite_template or source is None or Path(f"{source}-wal").exists():
        return
    template = Path(tempfile.mkdtemp(prefix="airlock-migrated-")) / "airlock.db"
    shutil.copyfile(source, template)
    _sqlite_template["migrated"] = template


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ApiServer:
    url: str
    process: subprocess.Popen[bytes]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


def start_api(
    home: Home, apps: str, extra_env: dict[str, str] | None = None, port: int | None = None
) -> ApiServer:
    """``airlock api --apps {apps}``, on ``port`` (a free one by default), once healthy."""
    port = port or free_port()
    env = {**home.env, **(extra_env or {})}
    # A file, not a pipe nobody reads, so a chatty server never blocks on a full pipe.
    log = home.path / f"api-{port}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "airlock.cli", "api", "--apps", apps, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    url = f"http://127.0.0.1:{port}"
    health = {
        "web": "/api/v1/health",
        "execution": "/execution/health",
        "internal": "/internal/health",
    }
    probe = health[apps.split(",", maxsplit=1)[0]]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"airlock api exited: {log.read_text()}")
        try:
            if httpx.get(url + probe, timeout=1).status_code == 200:
                return ApiServer(url=url, process=process)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"airlock api on {url} did not become healthy in 30 s: {log.read_text()}")


def stop(server: ApiServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@dataclass
class RunAll:
    """``airlock run-all`` on a home of its own under ``base``, its DAG processor on a bundle
    ``dags``; what it prints goes to ``base/run-all.log``."""

    process: subprocess.Popen[bytes]
    home: Path
    url: str
    env: dict[str, str]
    log: Path

    @classmethod
    def start(cls, base: Path, dags: Path, timeout_s: float = 90, **settings: str) -> Self:
        """The stack, once its admin can log in; ``settings`` are more ``AIRLOCK_…`` variables."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        env.update(
            {
                "AIRLOCK_HOME": str(base / "home"),
                "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"dags={dags}",
                "AIRLOCK_CLIENT__API_URL": url,
                UNPAUSED_AT_CREATION: "false",
                **settings,
            }
        )
        log = base / "run-all.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "airlock.cli", "run-all", "--port", str(port)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=base,
            )
        stack = cls(process, base / "home", url, env, log)
        deadline = time.monotonic() + timeout_s
        while True:
            assert process.poll() is None, f"run-all exited during start-up:\n{stack.output()}"
            if time.monotonic() > deadline:
                stack.stop()
                raise AssertionError(f"run-all never accepted a login:\n{stack.output()}")
            if (stack.home / "admin-password.txt").exists():
                try:
                    answer = httpx.post(
                        f"{url}/api/v1/auth/token",
                        json={"username": "admin", "password": stack.admin_password()},
                        timeout=5,
                    )
                    if answer.status_code == 200:
                        return stack
                except httpx.TransportError:
                    pass
            time.sleep(0.3)

    def processes(self, *, recursive: bool = True) -> list[tuple[psutil.Process, list[str]]]:
        """The stack's live processes under ``run-all`` with their command lines; one that has
        just exited (a zombie until reaped, or gone) is left out."""
        found = []
        for process in psutil.Process(self.process.pid).children(recursive=recursive):
            try:
                found.append((process, process.cmdline()))
            except psutil.Error:
                continue
        return found

    def admin_password(self) -> str:
        return (self.home / "admin-password.txt").read_text().strip()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Ctrl-C, as a user stops it."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
