"""No request stalls the APIs of an ``airlock api`` process on SQLite (handlers inline, ADR 0009
and 0018): while attack clients run — failed logins (Argon2) and 4.8 MB bodies sent before
authenticating with an older API version — ``/execution/health`` and a worker's poll keep
answering quickly. The budget is p99 < 100 ms; the assertion allows a margin for loaded CI
machines, and the test prints the real figures.

Triggers of a DAG with the most tasks a DAG may have (``[internal] max_dag_tasks``) are bounded,
not free: on SQLite the run's task instances are written under the one write lock, and a poll
that writes (it records the worker as seen) waits for it (ADR 0018 has the figures).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from airlock.core.settings import InternalSettings
from airlock.core.tokens import TokenKind
from airlock.db import make_engine, make_session_factory
from airlock.models.versions import EXECUTION_VERSIONS
from tests.support.dags import install_dag, make_dag, task
from tests.support.processes import ApiServer, Home, make_home

ATTACK_S = 8.0
#: The budget is a p99 under 100 ms (the attack pushed the median to 800 ms); a CI machine running
#: other tests at the same time gets a wide margin on the tail and a tighter one on the median.
MEDIAN_LIMIT_S = 0.25
P99_LIMIT_S = 2.0
#: A trigger of the biggest DAG must never stall anything for long (it was 29 s for 200,000 tasks).
TRIGGER_STALL_LIMIT_S = 10.0
CLIENTS = {"bad login": 6, "big pre-auth body": 2}
BIG_BODY = b'{"worker": "w", "queues": [' + b'"q",' * 1_200_000 + b'"q"]}'


def _attack(
    stop: threading.Event, url: str, send: Callable[[httpx.Client], httpx.Response]
) -> list[int]:
    statuses: list[int] = []
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop.is_set():
            try:
                statuses.append(send(http).status_code)
            except httpx.TransportError:
                statuses.append(0)
    return statuses


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def test_health_and_polls_stay_fast_under_attack(
    tmp_path: Path, started: Callable[[Home, str], ApiServer]
) -> None:
    health, polls, done = _under_attack(tmp_path, started, CLIENTS)
    # Refused, or throttled once a name or an address has failed too often (429).
    assert set(done["bad login"]) <= {401, 429}
    assert 401 in done["bad login"]
    assert set(done["big pre-auth body"]) == {401}
    assert statistics.median(health) < MEDIAN_LIMIT_S
    assert statistics.median(polls) < MEDIAN_LIMIT_S
    assert _p99(health) < P99_LIMIT_S
    assert _p99(polls) < P99_LIMIT_S


def test_triggers_of_the_biggest_dag_are_bounded(
    tmp_path: Path, started: Callable[[Home, str], ApiServer]
) -> None:
    health, polls, done = _under_attack(tmp_path, started, {"huge trigger": 1})
    assert done["huge trigger"]
    assert set(done["huge trigger"]) == {201}
    assert max(health) < TRIGGER_STALL_LIMIT_S
    assert max(polls) < TRIGGER_STALL_LIMIT_S


def _under_attack(
    tmp_path: Path, started: Callable[[Home, str], ApiServer], clients: dict[str, int]
) -> tuple[list[float], list[float], dict[str, list[int]]]:
    """(health latencies, poll latencies, statuses per attack) while ``clients`` attack."""
    home = make_home(tmp_path, f"sqlite:///{tmp_path / 'airlock.db'}")
    home.airlock(
        "users", "create", "ann", "--role", "op", "--password-stdin", stdin="correct horse\n"
    )
    if "huge trigger" in clients:
        biggest = InternalSettings().max_dag_tasks
        engine = make_engine(home.db_url)
        try:
            with make_session_factory(engine)() as session:
                tasks = [task(f"t{i:05d}") for i in range(biggest)]
                install_dag(session, make_dag("huge", tasks), bundle="b")
        finally:
            engine.dispose()
    api = started(home, "web,execution,internal")
    op = {"authorization": f"Bearer {home.token(TokenKind.USER, 'ann', roles=['op'])}"}
    worker = {"authorization": f"Bearer {home.token(TokenKind.WORKER, 'w')}"}
    old = {"airlock-api-version": EXECUTION_VERSIONS.dates[-1], "content-type": "application/json"}
    attacks: dict[str, Callable[[httpx.Client], httpx.Response]] = {
        "bad login": lambda http: http.post(
            "/api/v1/auth/token", json={"username": "ann", "password": "wrong password"}
        ),
        "big pre-auth body": lambda http: http.post(
            "/execution/workloads/next", content=BIG_BODY, headers=old
        ),
        "huge trigger": lambda http: http.post("/api/v1/dags/huge/dagRuns/", json={}, headers=op),
    }
    stop = threading.Event()
    results: dict[str, list[list[int]]] = {name: [] for name in attacks}
    threads = []
    for name, count in clients.items():
        for _ in range(count):
            statuses: list[int] = []
            results[name].append(statuses)

            def run(send=attacks[name], into=statuses) -> None:
                into += _attack(stop, api.url, send)

            threads.append(threading.Thread(target=run, daemon=True))
    health: list[float] = []
    polls: list[float] = []
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        deadline = time.monotonic() + ATTACK_S
        while time.monotonic() < deadline:
            started_at = time.perf_counter()
            assert http.get("/execution/health").status_code == 200
            health.append(time.perf_counter() - started_at)
            started_at = time.perf_counter()
            polled = http.post(
                "/execution/workloads/next",
                json={"worker": "probe", "queues": ["probe"], "wait_s": 0},
                headers=worker,
            )
            polls.append(time.perf_counter() - started_at)
            assert polled.status_code in (200, 204), polled.text
            time.sleep(0.02)
        stop.set()
    for thread in threads:
        thread.join(120)
    done = {name: [s for client in lists for s in client] for name, lists in results.items()}
    print()
    for name, statuses in done.items():
        print(f"{name}: {len(statuses)} requests, statuses {sorted(set(statuses))}")
    print(
        f"/execution/health: n={len(health)} median {statistics.median(health) * 1000:.1f} ms "
        f"p99 {_p99(health) * 1000:.1f} ms max {max(health) * 1000:.1f} ms"
    )
    print(
        f"worker poll: n={len(polls)} median {statistics.median(polls) * 1000:.1f} ms "
        f"p99 {_p99(polls) * 1000:.1f} ms max {max(polls) * 1000:.1f} ms"
    )
    return health, polls, done
