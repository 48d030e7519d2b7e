"""`airlock callback-processor` as a real process against a real `airlock api` (SQLite and
PostgreSQL): every kind of callback runs once per event with its context; a processor SIGKILLed
again and again mid-callback loses none (each comes back as a new attempt); callbacks that
raise, hang or import something missing are dead-lettered with their error and can be retried.

The DAG file is uploaded by `airlock dag-processor --once`; callback requests are inserted in
the DB as the control plane queues them, so these tests exercise the callback processor alone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from airlock.core.tokens import TokenKind
from airlock.db import CallbackRequest, Dag
from airlock.db.database import Database
from tests.support.processes import ApiServer, Home, make_home, start_api, stop

pytestmark = pytest.mark.slow

DAG_FILE = """
import json, os, tempfile, time
from pathlib import Path
from datetime import timedelta
from airlock.sdk import DAG, BaseNotifier, DeadlineAlert, DeadlineReference, Variable
from airlock.sdk.operators.empty import EmptyOperator

# Callbacks may write only to their temp folder (the processor's temp_folder).
FIRED = Path(tempfile.gettempdir()) / "fired.jsonl"


def record(context, phase="done", **extra):
    line = {
        "kind": context["callback_kind"],
        "key": context["idempotency_key"],
        "attempt": context["callback_attempt"],
        "task_id": context["task_id"],
        "run_id": context["run_id"],
        "phase": phase,
        **extra,
    }
    with FIRED.open("a") as f:
        f.write(json.dumps(line) + "\\n")


def plain(context):
    print("plain callback for", context["dag"].dag_id)
    record(context)


class Shout(BaseNotifier):
    template_fields = ("text",)

    def __init__(self, text):
        self.text = text

    def notify(self, context):
        record(context, text=self.text, variable=Variable.get("cb_var", default=None))


def slow(context):
    record(context, phase="start")
    time.sleep(float(os.environ.get("SLOW_S", "0.4")))
    record(context, phase="end")


def raises(context):
    raise ValueError("the callback refused")


def hangs(context):
    time.sleep(600)


def hogs(context):
    hoard = bytearray(1024 * 2**20)  # 1 GiB: over the child's memory cap
    record(context, size=len(hoard))


def inspect(context):
    # The processor and every child it started (others on a shared machine are not ours).
    parent = os.getppid()
    family = {str(parent)}
    try:
        entries = os.listdir("/proc")
    except OSError:
        entries = []  # Landlock: not even the list of processes
    for entry in entries:
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            family.add(entry)
    found = {}
    for entry in sorted(family):
        for name in ("environ", "cmdline"):
            try:
                text = open(f"/proc/{entry}/{name}", "rb").read().decode(errors="replace")
            except OSError:
                continue
            if "eyJ" in text:
                found[f"{entry}/{name}"] = text
    record(context, environ=sorted(os.environ), readable_jwts=found, family=len(family))


def imports_missing(context):
    import a_module_that_is_not_installed  # noqa: F401


with DAG(
    "cb_dag",
    schedule=None,
    on_success_callback=plain,
    on_failure_callback=[plain, Shout("run {{ run_id }} failed")],
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=timedelta(hours=1), callback=plain
    ),
) as dag:
    EmptyOperator(
        task_id="t",
        on_execute_callback=plain,
        on_success_callback=Shout("{{ task_id }} ok"),
        on_failure_callback=plain,
        on_retry_callback=plain,
        on_skipped_callback=plain,
    )
    EmptyOperator(task_id="slow", on_success_callback=slow)
    EmptyOperator(task_id="raises", on_failure_callback=raises)
    EmptyOperator(task_id="hangs", on_failure_callback=hangs)
    EmptyOperator(task_id="imports", on_failure_callback=imports_missing)
    EmptyOperator(task_id="inspect", on_success_callback=inspect)
    EmptyOperator(task_id="hogs", on_failure_callback=hogs)
"""

TASK_KINDS = ("task_execute", "task_success", "task_failure", "task_retry", "task_skipped")


@dataclass
class Rig:
    home: Home
    api: ApiServer
    folder: Path
    db: Database
    processors: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.home.path / "callback-processor.log"

    @property
    def fired_file(self) -> Path:
        return self.folder.parent / "callback-out" / "fired.jsonl"

    def fired(self) -> list[dict[str, Any]]:
        if not self.fired_file.exists():
            return []
        return [json.loads(line) for line in self.fired_file.read_text().splitlines() if line]

    def queue(
        self, kind: str, task_id: str | None = None, run_id: str = "r1", **payload: Any
    ) -> int:
        with self.db.sessions() as session:
            version = session.scalar(select(Dag.latest_version_id).where(Dag.dag_id == "cb_dag"))
            row = CallbackRequest(
                kind=kind,
                bundle_name="cbs",
                dag_id="cb_dag",
                run_id=run_id,
                task_id=task_id,
                try_number=None if task_id is None else 1,
                dag_version_id=version,
                payload={"state": "failed", **payload},
                created_at=dt.datetime.now(dt.UTC),
            )
            session.add(row)
            session.commit()
            return row.id

    def rows(self, ids: list[int]) -> dict[int, CallbackRequest]:
        with self.db.sessions() as session:
            found = session.scalars(select(CallbackRequest).where(CallbackRequest.id.in_(ids)))
            return {row.id: row for row in found}

    def wait_states(self, ids: list[int], states: set[str], timeout: float) -> dict[int, Any]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows(ids)
            if all(rows[i].state in states for i in ids):
                return rows
            if time.monotonic() > deadline:
                seen = {i: (r.state, r.attempts, r.last_error) for i, r in rows.items()}
                output = self.log.read_text()[-3000:] if self.log.exists() else ""
                raise AssertionError(f"callbacks not {states} after {timeout} s: {seen}\n{output}")
            time.sleep(0.2)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``airlock …`` as an op logged in to the Web API."""
        token = self.home.token(TokenKind.USER, "op", roles=["op"])
        return subprocess.run(
            [sys.executable, "-m", "airlock.cli", *args],
            env={
                **self.home.env,
                "AIRLOCK_CLIENT__API_URL": self.api.url,
                "AIRLOCK_CLIENT__TOKEN": token,
            },
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )

    def start_processor(self, **settings: str) -> subprocess.Popen[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        environ.update(
            {
                "AIRLOCK_HOME": str(self.home.path / "processing-home"),
                "AIRLOCK_ZONE": "processing",
                "AIRLOCK_CALLBACK_PROCESSOR__API_URL": self.api.url,
                "AIRLOCK_CALLBACK_PROCESSOR__TOKEN": self.home.token(
                    TokenKind.SERVICE, "cbp", role="callback-processor", bundles=["cbs"]
                ),
                "AIRLOCK_CALLBACK_PROCESSOR__BUNDLES": f"cbs={self.folder}",
                "AIRLOCK_CALLBACK_PROCESSOR__POLL_INTERVAL_S": "0.1",
                "AIRLOCK_CALLBACK_PROCESSOR__TEMP_FOLDER": str(self.fired_file.parent),
                **settings,
            }
        )
        with self.log.open("a") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "airlock.cli", "callback-processor"],
                env=environ,
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.processors.append(process)
        return process


@pytest.fixture
def rig(tmp_path: Path, db_url: str) -> Iterator[Rig]:
    home = make_home(tmp_path / "home", db_url)
    api = start_api(
        home,
        "internal,web",
        {
            "AIRLOCK_INTERNAL__CALLBACK_BACKOFF_S": "0.1",
            "AIRLOCK_INTERNAL__CALLBACK_BACKOFF_MAX_S": "0.2",
        },
    )
    folder = tmp_path / "bundle"
    folder.mkdir()
    (tmp_path / "callback-out").mkdir()
    (folder / "cb_dag.py").write_text(textwrap.dedent(DAG_FILE))
    token = home.token(TokenKind.SERVICE, "dp", role="dag-processor", bundles=["cbs"])
    uploaded = subprocess.run(
        [sys.executable, "-m", "airlock.cli", "dag-processor", "--bundle", "cbs", "--once"],
        env={
            **home.zone_env("processing"),
            "AIRLOCK_DAG_PROCESSOR__API_URL": api.url,
            "AIRLOCK_DAG_PROCESSOR__TOKEN": token,
            "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"cbs={folder}",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "1 new DAG version(s), 0 import error(s)" in uploaded.stdout, uploaded
    db = Database(db_url)
    home.airlock("variables", "set", "cb_var", "from the API", check=False)
    rig = Rig(home, api, folder, db)
    try:
        yield rig
    finally:
        for process in rig.processors:
            process.kill()
            process.wait()
        stop(api)
        db.close()


def test_each_kind_runs_once_with_its_context(rig: Rig) -> None:
    ids = [rig.queue("dag_success"), rig.queue("dag_failure", reason="a task failed")]
    ids += [rig.queue(kind, "t") for kind in TASK_KINDS]
    ids.append(rig.queue("deadline", alert_index=0))
    rig.start_processor()
    rows = rig.wait_states(ids, {"success"}, timeout=60)
    fired = rig.fired()
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for line in fired:
        by_kind.setdefault(line["kind"], []).append(line)
    # The run's failure callback is a list of two: a function and a notifier.
    assert {k: len(v) for k, v in by_kind.items()} == {
        "dag_success": 1,
        "dag_failure": 2,
        "deadline": 1,
        **dict.fromkeys(TASK_KINDS, 1),
    }
    assert all(line["attempt"] == 1 for line in fired)
    assert {line["key"] for line in fired} == {f"airlock-callback-{i}" for i in ids}
    notified = [line for line in fired if "text" in line]
    assert sorted(line["text"] for line in notified) == ["run r1 failed", "t ok"]
    assert all(rows[i].attempts == 1 and rows[i].done_at is not None for i in ids)
    assert "plain callback for cb_dag" in (rows[ids[0]].log or "")
    # Running them again changes nothing: each ran once.
    time.sleep(1)
    assert len(rig.fired()) == len(fired)


def test_sigkilled_processor_loses_no_callback(rig: Rig) -> None:
    ids = [rig.queue("task_success", "slow", run_id=f"r{n}") for n in range(20)]
    settings = {
        "AIRLOCK_CALLBACK_PROCESSOR__TIMEOUT_S": "2",
        "AIRLOCK_CALLBACK_PROCESSOR__LEASE_GRACE_S": "1",
        "AIRLOCK_CALLBACK_PROCESSOR__CONCURRENCY": "2",
    }
    randomly = random.Random(15)
    for _ in range(20):
        process = rig.start_processor(**settings)
        time.sleep(randomly.uniform(0.2, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
    rig.start_processor(**settings)
    rows = rig.wait_states(ids, {"success"}, timeout=120)
    ends = {line["key"] for line in rig.fired() if line["phase"] == "end"}
    assert ends == {f"airlock-callback-{i}" for i in ids}
    assert all(rows[i].attempts >= 1 for i in ids)
    # Some callbacks were cut off mid-run and delivered again as later attempts.
    starts = [line for line in rig.fired() if line["phase"] == "start"]
    assert any(line["attempt"] > 1 for line in starts)
    assert max(rows[i].attempts for i in ids) > 1


def test_failing_callbacks_are_dead_lettered_with_their_error(rig: Rig) -> None:
    raises = rig.queue("task_failure", "raises")
    hangs = rig.queue("task_failure", "hangs")
    missing = rig.queue("task_failure", "imports")
    rig.start_processor(AIRLOCK_CALLBACK_PROCESSOR__TIMEOUT_S="1")
    rows = rig.wait_states([raises, hangs, missing], {"dead"}, timeout=90)
    assert all(rows[i].attempts == 3 and rows[i].max_attempts == 3 for i in rows)
    assert "ValueError: the callback refused" in (rows[raises].last_error or "")
    assert "longer than 1 s" in (rows[hangs].last_error or "")
    assert "a_module_that_is_not_installed" in (rows[missing].last_error or "")
    listed = rig.cli("callbacks", "list", "--state", "dead", "--output", "json")
    assert {c["id"] for c in json.loads(listed.stdout)} == {raises, hangs, missing}
    # An op retries one: it runs again (and fails again, as its code is unchanged).
    rig.cli("callbacks", "retry", str(raises))
    rows = rig.wait_states([raises], {"dead"}, timeout=60)
    assert rows[raises].attempts == 6


def test_a_callback_over_its_memory_cap_fails_and_the_processor_goes_on(rig: Rig) -> None:
    hogs = rig.queue("task_failure", "hogs")
    plain = rig.queue("task_failure", "t")
    rig.start_processor(AIRLOCK_CALLBACK_PROCESSOR__CHILD_MEMORY_MB="256")
    rows = rig.wait_states([hogs], {"dead"}, timeout=90)
    assert "MemoryError" in (rows[hogs].last_error or ""), rows[hogs].last_error
    assert rig.wait_states([plain], {"success"}, timeout=60)
    assert not [line for line in rig.fired() if line["task_id"] == "hogs"]


def test_a_callback_holds_no_token_and_reads_none(rig: Rig) -> None:
    callback = rig.queue("task_success", "inspect")
    rig.start_processor()
    rig.wait_states([callback], {"success"}, timeout=60)
    (line,) = rig.fired()
    # The processor at least (with Landlock, the child cannot even read its siblings' stat).
    assert line["family"] >= 1
    assert line["readable_jwts"] == {}
    assert not [
        name
        for name in line["environ"]
        if name.startswith("AIRLOCK_") and name != "AIRLOCK_ZONE" and "PARENT" not in name
    ]
