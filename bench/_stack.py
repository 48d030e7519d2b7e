"""Helpers the benchmarks share: a fresh Airlock home, API processes, process-tree memory."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil

AIRLOCK = [sys.executable, "-m", "airlock.cli"]


@dataclass
class Home:
    path: Path
    env: dict[str, str]

    def run(self, *args: str) -> str:
        return subprocess.run(
            [*AIRLOCK, *args], env=self.env, check=True, capture_output=True, text=True
        ).stdout


def fresh_home(db_url: str | None = None) -> Home:
    path = Path(tempfile.mkdtemp(prefix="airlock-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env["AIRLOCK_HOME"] = str(path)
    env["AIRLOCK_INTERNAL__DAGS_ARE_PAUSED_AT_CREATION"] = "false"  # benchmarked DAGs run at once
    if db_url:
        env["AIRLOCK_DATABASE__URL"] = db_url
    home = Home(path, env)
    home.run("db", "migrate")
    home.run("keys", "generate")
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def api(home: Home, apps: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [*AIRLOCK, "api", "--apps", apps, "--port", str(port)],
        env=home.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    probe = {
        "web": "/api/v1/health",
        "execution": "/execution/health",
        "internal": "/internal/health",
    }[apps.split(",", maxsplit=1)[0]]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + probe, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the API did not start")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


class TreeMemory:
    """Samples the summed RSS of a process and its descendants until stopped."""

    def __init__(self, pid: int, every_s: float = 0.02) -> None:
        self.peak_bytes = 0
        self._pid = pid
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self._pid)
                procs = [root, *root.children(recursive=True)]
                total = 0
                for proc in procs:
                    with suppress(psutil.Error):
                        total += proc.memory_info().rss
                self.peak_bytes = max(self.peak_bytes, total)
            except psutil.Error:
                return
            self._stop.wait(self._every)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_bytes / 2**20


def tree_pss_mb(pid: int) -> float:
    """The PSS (shared pages split between the processes mapping them) of ``pid`` and its
    descendants, in MB, from /proc/<pid>/smaps_rollup."""
    try:
        root = psutil.Process(pid)
        pids = [root.pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.Error:
        return 0.0
    total_kb = 0
    for each in pids:
        with suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
    return total_kb / 1024


def service_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) each service of a ``run-all`` stack rooted at ``pid`` has
    used so far, by its ``airlock`` command (``api``, ``scheduler``, ``worker``…). Children of
    the services (tasks, parsers) are left out: they come and go."""
    used: dict[str, float] = {}
    try:
        processes = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return used
    for process in processes:
        with suppress(psutil.Error):
            command = process.cmdline()
            if "airlock.cli" in command and command.index("airlock.cli") + 1 < len(command):
                name = command[command.index("airlock.cli") + 1]
                times = process.cpu_times()
                used[name] = used.get(name, 0.0) + times.user + times.system
    return used


class OtlpSink(ThreadingHTTPServer):
    """A stand-in OpenTelemetry Collector on loopback: it takes every OTLP/HTTP export, counts
    its bytes and drops it (a collector's own work is not Airlock's cost)."""

    received_bytes = 0


class _OtlpHandler(BaseHTTPRequestHandler):
    server: OtlpSink

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length", 0))
        self.server.received_bytes += len(self.rfile.read(size))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def otlp_sink() -> Iterator[OtlpSink]:
    """An :class:`OtlpSink` serving at ``http://127.0.0.1:<its port>`` until the block ends."""
    sink = OtlpSink(("127.0.0.1", 0), _OtlpHandler)
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.shutdown()
        sink.server_close()


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Stack:
    """``airlock run-all`` as a user starts it, on a home of its own, with a DAG bundle."""

    process: subprocess.Popen[bytes]
    home: Path
    url: str
    log: Path

    def admin_token(self) -> str:
        password = (self.home / "admin-password.txt").read_text().strip()
        answer = httpx.post(
            f"{self.url}/api/v1/auth/token",
            json={"username": "admin", "password": password},
            timeout=10,
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def web(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {self.admin_token()}"},
            timeout=30,
        )

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.home / 'airlock.db'}"


@contextmanager
def run_all(dags: Path, *, timeout_s: float = 120, **settings: str) -> Iterator[Stack]:
    """``airlock run-all`` with ``dags`` as its bundle (new DAGs unpaused), until its admin can
    log in; stopped with Ctrl-C on exit. ``settings`` are more ``AIRLOCK_…`` variables."""
    base = Path(tempfile.mkdtemp(prefix="airlock-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env.update(
        {
            "AIRLOCK_HOME": str(base / "home"),
            "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"dags={dags}",
            "AIRLOCK_CLIENT__API_URL": url,
            "AIRLOCK_INTERNAL__DAGS_ARE_PAUSED_AT_CREATION": "false",
            **settings,
        }
    )
    log = base / "run-all.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*AIRLOCK, "run-all", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=base,
        )
    stack = Stack(process, base / "home", url, log)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"run-all did not start:\n{log.read_text()[-3000:]}")
            if (stack.home / "admin-password.txt").exists():
                with suppress(httpx.HTTPError):
                    stack.admin_token()
                    break
            time.sleep(0.3)
        yield stack
    finally:
        process.send_signal(2)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
