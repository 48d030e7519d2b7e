"""No request stalls the APIs of an ``airlock api`` process on SQLite (handlers inline, ADR 0009
and 0018): while attack clients run (:mod:`tests.support.attack`) — failed logins (Argon2), 4.8 MB
bodies sent before authenticating with an older API version, triggers of a DAG with the most
tasks a DAG may have — ``/execution/health`` and a worker's poll keep answering quickly.

The target, p99 < 100 ms, is ``just bench attack``'s (ADR 0018 has its figures): on a shared CI
machine the tail depends on the neighbours, so these tests bound what no load excuses — no 5xx,
no request stalled for seconds — and print the real figures.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from tests.support.attack import (
    BAD_LOGIN,
    BIG_PRE_AUTH_BODY,
    HUGE_TRIGGER,
    Probed,
    prepare_home,
    probe_under_attack,
)
from tests.support.processes import ApiServer, Home

ATTACK_S = 8.0
#: The attack of issue 18 pushed the median to 800 ms; the target is a p99 under 100 ms.
MEDIAN_LIMIT_S = 0.25
#: No probe request may take this long, whatever runs beside the test. A trigger of the biggest
#: DAG still holds SQLite's write lock for its first scheduling pass (~0.3 s of CPU, 1-2 s on a
#: machine loaded 10x), so a poll that writes may wait that long behind it (ADR 0018).
STALL_LIMIT_S = 1.0
TRIGGER_STALL_LIMIT_S = 4.0


def _probed(
    tmp_path: Path, started: Callable[[Home, str], ApiServer], clients: dict[str, int]
) -> Probed:
    home = prepare_home(tmp_path, huge_dag=HUGE_TRIGGER in clients)
    probed = probe_under_attack(home, started(home, "web,execution,internal"), clients, ATTACK_S)
    print("\n" + probed.summary())
    assert set(probed.probe_statuses) <= {200, 204}
    return probed


def test_health_and_polls_stay_fast_under_login_and_body_attacks(
    tmp_path: Path, started: Callable[[Home, str], ApiServer]
) -> None:
    probed = _probed(tmp_path, started, {BAD_LOGIN: 6, BIG_PRE_AUTH_BODY: 2})
    # Refused, or throttled once a name or an address has failed too often (429).
    assert set(probed.statuses[BAD_LOGIN]) <= {401, 429}
    assert 401 in probed.statuses[BAD_LOGIN]
    assert set(probed.statuses[BIG_PRE_AUTH_BODY]) == {401}
    assert statistics.median(probed.health) < MEDIAN_LIMIT_S
    assert statistics.median(probed.polls) < MEDIAN_LIMIT_S
    assert max(probed.health) < STALL_LIMIT_S
    assert max(probed.polls) < STALL_LIMIT_S


def test_no_request_stalls_while_every_attack_runs_with_the_biggest_triggers(
    tmp_path: Path, started: Callable[[Home, str], ApiServer]
) -> None:
    probed = _probed(tmp_path, started, {BAD_LOGIN: 3, BIG_PRE_AUTH_BODY: 1, HUGE_TRIGGER: 1})
    assert set(probed.statuses[HUGE_TRIGGER]) == {201}
    assert set(probed.statuses[BAD_LOGIN]) <= {401, 429}
    assert set(probed.statuses[BIG_PRE_AUTH_BODY]) == {401}
    assert max(probed.health) < TRIGGER_STALL_LIMIT_S
    assert max(probed.polls) < TRIGGER_STALL_LIMIT_S
