"""Same DAG file ⇒ same bytes ⇒ same hash, in separate processes with different hash seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DAGS_DIR = Path(__file__).parents[1] / "dags"
DAG_FILES = sorted(p.name for p in DAGS_DIR.glob("*.py"))

SCRIPT = """
import json, runpy, sys
from airlock.models.codec import dag_hash, encode_dag
from airlock.sdk import DAG
from airlock.sdk.definitions import _active
from airlock.sdk.serialization import serialize_dag

sys.path.insert(0, sys.argv[1])
hashes = {}
for name in sys.argv[2:]:
    _active.clear()
    namespace = runpy.run_path(sys.argv[1] + "/" + name, run_name=name[:-3])
    dags = {d.dag_id: d for d in _active.registered_dags()}
    dags.update({v.dag_id: v for v in namespace.values() if isinstance(v, DAG)})
    for dag_id, dag in dags.items():
        hashes[dag_id] = dag_hash(encode_dag(serialize_dag(dag, bundle_root=sys.argv[1])))
print(json.dumps(hashes, sort_keys=True))
"""


def _hashes(seed: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(DAGS_DIR), *DAG_FILES],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(out.stdout)


def test_hashes_are_identical_across_processes() -> None:
    first, second = _hashes("1"), _hashes("4242")
    assert len(first) >= 13
    assert first == second
