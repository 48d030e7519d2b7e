"""An ``airlock api`` process on SQLite under attack, and how fast it answers meanwhile (issue 18
part 3, ADR 0018): the test ``tests/security/test_api_stall.py`` and the bench ``just bench
attack`` drive the same attack.

Attack clients loop on one kind of hostile request each — failed log-ins (Argon2), 4.8 MB bodies
sent before authenticating with an older ``Airlock-API-Version``, triggers of a DAG with the most
tasks a DAG may have (``[internal] max_dag_tasks``) — while a probe alternates
``GET /execution/health`` and a worker's poll (``POST /execution/workloads/next``, which writes:
it records the worker as seen) and times each.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from airlock.core.settings import InternalSettings
from airlock.core.tokens import TokenKind
from airlock.db import make_engine, make_session_factory
from airlock.models.versions import EXECUTION_VERSIONS
from tests.support.dags import install_dag, make_dag, task
from tests.support.processes import ApiServer, Home, make_home

BAD_LOGIN = "bad login"
BIG_PRE_AUTH_BODY = "big pre-auth body"
HUGE_TRIGGER = "huge trigger"
ATTACKS = (BAD_LOGIN, BIG_PRE_AUTH_BODY, HUGE_TRIGGER)
BIG_BODY = b'{"worker": "w", "queues": [' + b'"q",' * 1_200_000 + b'"q"]}'


@dataclass
class Probed:
    """What the probe and the attack clients saw."""

    #: Latencies (seconds) of ``/execution/health`` and of the worker's polls.
    health: list[float]
    polls: list[float]
    #: Every status each attack got (0: the connection failed).
    statuses: dict[str, list[int]]
    #: Every status the probe got.
    probe_statuses: list[int]

    def summary(self) -> str:
        lines = [
            f"{name}: {len(codes)} requests, statuses {sorted(set(codes))}"
            for name, codes in self.statuses.items()
        ]
        for name, samples in (("/execution/health", self.health), ("worker poll", self.polls)):
            lines.append(
                f"{name}: n={len(samples)} median {statistics.median(samples) * 1000:.1f} ms "
                f"p99 {p99(samples) * 1000:.1f} ms max {max(samples) * 1000:.1f} ms"
            )
        return "\n".join(lines)


def p99(samples: list[float]) -> float:
    return (
        statistics.quantiles(samples, n=100, method="inclusive")[98]
        if len(samples) > 1
        else samples[0]
    )


def prepare_home(path: Path, *, huge_dag: bool) -> Home:
    """A home on SQLite with an ``op`` user ``ann`` and, with ``huge_dag``, the DAG ``huge`` of
    ``[internal] max_dag_tasks`` independent tasks."""
    home = make_home(path, f"sqlite:///{path / 'airlock.db'}")
    home.airlock(
        "users", "create", "ann", "--role", "op", "--password-stdin", stdin="correct horse\n"
    )
    if huge_dag:
        engine = make_engine(home.db_url)
        try:
            with make_session_factory(engine)() as session:
                tasks = [task(f"t{i:05d}") for i in range(InternalSettings().max_dag_tasks)]
                install_dag(session, make_dag("huge", tasks), bundle="b")
        finally:
            engine.dispose()
    return home


def probe_under_attack(
    home: Home, api: ApiServer, clients: Mapping[str, int], seconds: float
) -> Probed:
    """Probe ``api`` for ``seconds`` while ``clients`` (attack name → number of clients) run."""
    op = {"authorization": f"Bearer {home.token(TokenKind.USER, 'ann', roles=['op'])}"}
    worker = {"authorization": f"Bearer {home.token(TokenKind.WORKER, 'w')}"}
    old = {"airlock-api-version": EXECUTION_VERSIONS.dates[-1], "content-type": "application/json"}
    attacks: dict[str, Callable[[httpx.Client], httpx.Response]] = {
        BAD_LOGIN: lambda http: http.post(
            "/api/v1/auth/token", json={"username": "ann", "password": "wrong password"}
        ),
        BIG_PRE_AUTH_BODY: lambda http: http.post(
            "/execution/workloads/next", content=BIG_BODY, headers=old
        ),
        HUGE_TRIGGER: lambda http: http.post("/api/v1/dags/huge/dagRuns/", json={}, headers=op),
    }
    stop = threading.Event()
    statuses: dict[str, list[int]] = {name: [] for name in clients}
    threads = [
        threading.Thread(
            target=_attack, args=(stop, api.url, attacks[name], statuses[name]), daemon=True
        )
        for name, count in clients.items()
        for _ in range(count)
    ]
    probed = Probed(health=[], polls=[], statuses=statuses, probe_statuses=[])
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started_at = time.perf_counter()
            probed.probe_statuses.append(http.get("/execution/health").status_code)
            probed.health.append(time.perf_counter() - started_at)
            started_at = time.perf_counter()
            polled = http.post(
                "/execution/workloads/next",
                json={"worker": "probe", "queues": ["probe"], "wait_s": 0},
                headers=worker,
            )
            probed.polls.append(time.perf_counter() - started_at)
            probed.probe_statuses.append(polled.status_code)
            time.sleep(0.02)
        stop.set()
    for thread in threads:
        thread.join(120)
    return probed


def _attack(
    stop: threading.Event,
    url: str,
    send: Callable[[httpx.Client], httpx.Response],
    statuses: list[int],
) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop.is_set():
            try:
                statuses.append(send(http).status_code)
            except httpx.TransportError:
                statuses.append(0)
