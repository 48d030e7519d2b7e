"""`just bench attack`: how fast one `airlock api` process on SQLite answers while it is attacked.

Issue 18 part 3 and ADR 0018. A fresh home on SQLite with the DAG `huge` of `[internal]
max_dag_tasks` (10,000) tasks; one `airlock api --apps web,execution,internal` process; for each
scenario, attack clients loop for --seconds while a probe alternates `GET /execution/health` and
a worker's poll (which writes: it records the worker as seen):

  - none: no attack (the machine's own noise);
  - logins-bodies: 6 clients failing to log in (Argon2) and 2 sending 4.8 MB bodies before
    authenticating with an older Airlock-API-Version;
  - trigger: 1 client triggering runs of `huge` back to back;
  - all: 3 failing log-ins, 1 big body and 1 huge trigger at once.

The attack is the one `tests/security/test_api_stall.py` runs (`tests/support/attack.py`).
Target: `/execution/health` and the worker's poll p99 < 100 ms in every scenario. The last line
is one JSON object: per scenario, health and poll median/p99/max in ms, and the triggers made.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the attack tests.support drives

from tests.support.attack import (
    BAD_LOGIN,
    BIG_PRE_AUTH_BODY,
    HUGE_TRIGGER,
    Probed,
    p99,
    prepare_home,
    probe_under_attack,
)
from tests.support.processes import start_api, stop

SCENARIOS: dict[str, dict[str, int]] = {
    "none": {},
    "logins-bodies": {BAD_LOGIN: 6, BIG_PRE_AUTH_BODY: 2},
    "trigger": {HUGE_TRIGGER: 1},
    "all": {BAD_LOGIN: 3, BIG_PRE_AUTH_BODY: 1, HUGE_TRIGGER: 1},
}
TARGET_P99_MS = 100.0


def _figures(probed: Probed) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, samples in (("health", probed.health), ("poll", probed.polls)):
        figures[f"{name}_p50_ms"] = round(statistics.median(samples) * 1000, 1)
        figures[f"{name}_p99_ms"] = round(p99(samples) * 1000, 1)
        figures[f"{name}_max_ms"] = round(max(samples) * 1000, 1)
    figures["triggers"] = probed.statuses.get(HUGE_TRIGGER, []).count(201)
    figures["probe_5xx"] = sum(1 for status in probed.probe_statuses if status >= 500)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="attack per scenario")
    parser.add_argument("--only", choices=sorted(SCENARIOS), help="run one scenario")
    args = parser.parse_args()
    home = prepare_home(Path(tempfile.mkdtemp(prefix="airlock-bench-attack-")), huge_dag=True)
    api = start_api(home, "web,execution,internal")
    results: dict[str, dict[str, float]] = {}
    try:
        for name, clients in SCENARIOS.items():
            if args.only and name != args.only:
                continue
            probed = probe_under_attack(home, api, clients, args.seconds)
            print(f"--- {name}\n{probed.summary()}", flush=True)
            results[name] = _figures(probed)
    finally:
        stop(api)
    met = all(
        figures[f"{kind}_p99_ms"] < TARGET_P99_MS
        for figures in results.values()
        for kind in ("health", "poll")
    )
    print(f"target p99 < {TARGET_P99_MS:g} ms for health and poll: {'met' if met else 'NOT met'}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
