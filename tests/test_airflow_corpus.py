"""Airflow 3.3-style DAG files, ported by ``airlock migrate-from-airflow`` alone, run on the
whole stack (``airlock run-all``: real processes, HTTP) and do what they say: skips, mapped
counts, XComs, pendulum dates, per-DAG import errors, paused-at-creation."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.processes import RunAll
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).parent / "fixtures" / "airflow_style"


class Corpus(RunAll):
    web: httpx.Client

    def airlock(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "airlock.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def run(self, dag_id: str, *extra: str) -> tuple[str, dict[tuple[str, int], str]]:
        """Trigger ``dag_id`` and wait; the run's state and each task instance's."""
        deadline = time.monotonic() + 90
        while True:
            result = self.airlock("dags", "trigger", dag_id, "--wait", "--timeout", "120", *extra)
            if "not found" not in result.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # the DAG processor has not uploaded the file yet
        assert "triggered" in result.stdout, result.stdout + result.stderr
        run_id = result.stdout.split(" run ", 1)[1].split()[0]
        listing = self.web.get(
            f"/api/v1/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        )
        assert listing.status_code == 200, listing.text
        states = {
            (ti["task_id"], ti["map_index"]): ti["state"] for ti in listing.json()["task_instances"]
        }
        run = self.web.get(f"/api/v1/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}").json()
        self.last_run_id = run_id
        return str(run["state"]), states

    def wait_for_triggered_run(self, dag_id: str) -> None:
        """Wait until ``dag_id`` (scheduled on assets) has a successful run; it becomes the run
        :meth:`xcom` reads."""
        deadline = time.monotonic() + 60
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            runs = self.web.get(f"/api/v1/dags/{dag_id}/dagRuns").json()["dag_runs"]
            if runs and runs[-1]["state"] == "success":
                self.last_run_id = runs[-1]["run_id"]
                return
            time.sleep(0.5)
        raise AssertionError(f"{dag_id} never ran to success: {runs}")

    def xcom(self, dag_id: str, task_id: str, map_index: int = -1) -> Any:
        answer = self.web.get(
            f"/api/v1/dags/{dag_id}/dagRuns/{quote(self.last_run_id, safe='')}/taskInstances/"
            f"{task_id}/xcomEntries/return_value",
            params={"map_index": map_index},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["value"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    base = tmp_path_factory.mktemp("airflow-corpus")
    dags = base / "dags"
    shutil.copytree(CORPUS, dags, ignore=shutil.ignore_patterns("*.md"))
    migrated = subprocess.run(
        [sys.executable, "-m", "airlock.cli", "migrate-from-airflow", str(dags)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "0 thing(s) to port by hand" in migrated.stderr
    for path in dags.glob("*.py"):
        assert "airflow" not in path.read_text().replace("airflow-style", "")
    # Airlock's own default (paused at creation), not the test suite's.
    stack = Corpus.start(base, dags, AIRLOCK_INTERNAL__DAGS_ARE_PAUSED_AT_CREATION="true")
    try:
        login = subprocess.run(
            [sys.executable, "-m", "airlock.cli", "login", "-u", "admin", "--password-stdin"],
            env=stack.env,
            input=stack.admin_password(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert login.returncode == 0, login.stderr
        token = httpx.post(
            f"{stack.url}/api/v1/auth/token",
            json={"username": "admin", "password": stack.admin_password()},
        ).json()["access_token"]
        stack.web = httpx.Client(
            base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        yield stack
    finally:
        stack.stop()


def test_pendulum_dates_params_and_templates(corpus: Corpus) -> None:
    state, tis = corpus.run("taskflow_dates", "--conf", '{"days": 2}')
    assert state == "success", tis
    assert set(tis.values()) == {"success"}
    shown = corpus.airlock("dags", "show", "taskflow_dates", "-o", "json").stdout
    assert '"timezone": "Europe/Paris"' in shown
    entries = corpus.web.get(
        f"/api/v1/dags/taskflow_dates/dagRuns/{quote(corpus.last_run_id, safe='')}/taskInstances/"
        "window/xcomEntries"
    ).json()["xcom_entries"]
    values = {e["key"]: e["value"] for e in entries}
    assert values["is_pendulum"] is True
    assert values["since"] == "2021-01-01"
    summary = corpus.xcom("taskflow_dates", "summary")
    assert summary.startswith(f"2021-01-01..{values['until']} (ds=")


def test_branches_short_circuits_and_trigger_rules(corpus: Corpus) -> None:
    state, tis = corpus.run("branching_style", "--conf", '{"mode": "slow"}')
    assert state == "success"
    assert tis[("choose", -1)] == "success"
    assert tis[("slow", -1)] == "success"
    assert tis[("fast", -1)] == "skipped"
    assert tis[("join", -1)] == "success"
    assert tis[("gate", -1)] == "success"
    assert tis[("after_gate", -1)] == "skipped"
    assert tis[("always", -1)] == "skipped"  # the short-circuit skips past trigger rules


def test_mapped_counts_and_reduce(corpus: Corpus) -> None:
    state, tis = corpus.run("mapping_style")
    assert state == "success"
    assert sorted(i for (t, i) in tis if t == "scale") == [0, 1, 2, 3]
    assert [corpus.xcom("mapping_style", "scale", i) for i in range(4)] == [10, 20, 30, 40]
    assert corpus.xcom("mapping_style", "total") == 100
    assert sorted(i for (t, i) in tis if t == "shout") == [0, 1]
    never = {i: s for (t, i), s in tis.items() if t == "never"}
    assert set(never.values()) == {"skipped"}, never
    # zip runs to the shorter of 4 numbers and 3 labels; concat has all 7 items
    assert [corpus.xcom("mapping_style", "describe", i) for i in range(3)] == [
        "one=1",
        "two=2",
        "three=3",
    ]
    assert sorted(i for (t, i) in tis if t == "describe") == [0, 1, 2]
    assert sorted(i for (t, i) in tis if t == "show") == list(range(7))
    assert corpus.xcom("mapping_style", "show", 6) == "three"


def test_groups_setup_teardown_sensor_and_retries(corpus: Corpus) -> None:
    state, tis = corpus.run("groups_and_sensors")
    assert state == "success", tis
    assert tis[("wait_until_logical", -1)] == "success"
    assert corpus.xcom("groups_and_sensors", "work.flaky") == "RESOURCE@2"
    assert tis[("delete", -1)] == "success"


def test_one_broken_dag_costs_only_itself(corpus: Corpus) -> None:
    state, tis = corpus.run("survives_its_neighbour")
    assert state == "success"
    assert tis == {("ok", -1): "success"}
    errors = corpus.airlock("dags", "list-import-errors")
    assert errors.returncode == 0, errors.stderr
    assert "two_dags_one_broken.py" in errors.stdout
    assert "DAG 'has_a_cycle' was not stored" in errors.stdout
    assert "a -> b -> a" in errors.stdout
    shown = corpus.airlock("dags", "show", "has_a_cycle")
    assert shown.returncode != 0


def test_a_new_dag_starts_paused_unless_it_says_otherwise(corpus: Corpus) -> None:
    corpus.run("survives_its_neighbour")  # every file of the bundle is uploaded by now
    listing = corpus.web.get("/api/v1/dags", params={"tags": "airflow-style"}).json()["dags"]
    assert {d["dag_id"]: d["is_paused"] for d in listing} == {
        "taskflow_dates": False,
        "branching_style": False,
        "mapping_style": False,
        "groups_and_sensors": False,
        "task_features": False,
        "mapped_groups": False,
        "virtualenv_tasks": False,
        "metadata_producer": False,
        "metadata_consumer": False,
        "metadata_consumer_by_name": False,
        "state_stores": False,
        "retry_policies": False,
        "priority_strategies": False,
        "workday_timetable": False,
        "events_timetable": False,
        "object_storage": False,
        "prices_producer": False,
        "prices_report": False,
        "unpartitioned_neighbour": False,
        "external_load": False,
        "external_report": False,
    }
    created = {
        d: corpus.web.get(f"/api/v1/dags/{d}").json()["is_paused"]
        for d in ("raw_events", "summarize", "after_report")
    }
    assert created == {"raw_events": False, "summarize": False, "after_report": False}
    paused = corpus.web.get("/api/v1/dags/paused_by_default").json()
    assert paused["is_paused"] is True


def test_xcomarg_transforms_conditions_and_async_tasks(corpus: Corpus) -> None:
    state, tis = corpus.run("task_features", "--conf", '{"enabled": true}')
    assert state == "success", tis
    assert [corpus.xcom("task_features", "square", i) for i in range(3)] == [4, 9, 16]
    assert corpus.xcom("task_features", "zipped") == [[1, "a"], [2, "b"]]
    assert corpus.xcom("task_features", "concatenated") == [1, 2, 3, "a", "b"]
    assert corpus.xcom("task_features", "only_when_enabled") == "enabled"
    assert tis[("only_in_the_past", -1)] == "skipped"
    assert corpus.xcom("task_features", "fetch") == "fetched"


def test_yielded_metadata_reaches_the_consumer_of_the_asset(corpus: Corpus) -> None:
    state, tis = corpus.run("metadata_producer")
    assert state == "success", tis
    assert corpus.xcom("metadata_producer", "write_orders") == "written"
    corpus.wait_for_triggered_run("metadata_consumer")
    extra = corpus.xcom("metadata_consumer", "read_extra")
    assert extra["rows"] == 42
    assert extra["day"].endswith("T00:00:00+00:00")
    corpus.wait_for_triggered_run("metadata_consumer_by_name")
    assert corpus.xcom("metadata_consumer_by_name", "read_rows") == [1, 42]


def test_asset_decorators_make_asset_dag_and_task_and_chain_runs(corpus: Corpus) -> None:
    state, tis = corpus.run("raw_events")
    assert state == "success", tis
    assert corpus.xcom("raw_events", "raw_events") == {
        "asset": "raw_events",
        "uri": "file:///tmp/corpus/raw_events.json",
        "year": int(corpus.last_run_id.split("__")[1][:4]),
    }
    corpus.wait_for_triggered_run("summarize")
    assert corpus.xcom("summarize", "summarize") == ["corpus_report", "corpus_summary"]
    corpus.wait_for_triggered_run("after_report")
    assert corpus.xcom("after_report", "confirm") == ["corpus_report"]


def test_virtualenv_and_external_python_tasks_on_a_worker(corpus: Corpus) -> None:
    state, tis = corpus.run("virtualenv_tasks")
    assert state == "success", tis
    isolated = corpus.xcom("virtualenv_tasks", "isolated")
    assert isolated["total"] == 6
    assert isolated["in_venv"] is True
    assert isolated["ds"] == corpus.last_run_id.split("__")[1][:10]
    assert corpus.xcom("virtualenv_tasks", "external").endswith("python")


def test_a_mapped_task_group_maps_each_task_per_item(corpus: Corpus) -> None:
    state, tis = corpus.run("mapped_groups")
    assert state == "success", tis
    assert sorted(i for (t, i) in tis if t == "process.load") == [0, 1, 2]
    assert [corpus.xcom("mapped_groups", "process.load", i) for i in range(3)] == [
        "A.CSV!",
        "BB.CSV!",
        "CCC.CSV!",
    ]
    assert [corpus.xcom("mapped_groups", "process.measure", i) for i in range(3)] == [6, 7, 8]
    assert corpus.xcom("mapped_groups", "total") == 21
    assert [corpus.xcom("mapped_groups", "literal.load", i) for i in range(2)] == ["X?", "YY?"]
    assert [corpus.xcom("mapped_groups", "by_kwargs.load", i) for i in range(2)] == [
        "A.CSV+",
        "BB.CSV-",
    ]
    assert corpus.xcom("mapped_groups", "kwargs_total") == 13


def test_state_stores_keep_a_job_id_across_tries_and_a_watermark_across_runs(
    corpus: Corpus,
) -> None:
    state, tis = corpus.run("state_stores")
    assert state == "success", tis
    first_run = corpus.last_run_id
    # The first try stored the job id and failed; the retry found it instead of resubmitting.
    assert corpus.xcom("state_stores", "submit_job") == {"job_id": "job-from-try-1", "try": 2}
    assert corpus.xcom("state_stores", "load_increment") == {"previous": None}
    assert corpus.xcom("state_stores", "check_inlet") == {
        "source_run_id": first_run,
        "task": "load_increment",
    }
    state, tis = corpus.run("state_stores")
    assert state == "success", tis
    assert corpus.xcom("state_stores", "load_increment") == {"previous": first_run}
    # A new run's task instance starts with an empty store of its own.
    assert corpus.xcom("state_stores", "submit_job") == {"job_id": "job-from-try-1", "try": 2}


def test_retry_policies_choose_the_delay_or_fail_at_once(corpus: Corpus) -> None:
    # Both tasks have retries=3 and retry_delay=1 hour: the run ends in seconds only because
    # the policy's 1-second delay replaced the hour, and the ValueError was not retried.
    state, tis = corpus.run("retry_policies")
    assert tis == {
        ("run_query", -1): "success",
        ("parse_rows", -1): "failed",
        ("summary", -1): ("success"),
    }
    assert corpus.xcom("retry_policies", "run_query") == 3
    listing = corpus.web.get(
        f"/api/v1/dags/retry_policies/dagRuns/{quote(corpus.last_run_id, safe='')}/taskInstances"
    ).json()["task_instances"]
    tries = {ti["task_id"]: ti["try_number"] for ti in listing}
    assert tries["parse_rows"] == 1
    assert tries["run_query"] == 3
    assert state == "success"  # the leaf (summary) succeeded


def test_a_bundled_priority_strategy_orders_the_queue(corpus: Corpus) -> None:
    state, tis = corpus.run("priority_strategies")
    assert state == "success", tis
    started = {t: corpus.xcom("priority_strategies", t) for t in ("w9_large", "w6_medium")}
    started["w3_small"] = corpus.xcom("priority_strategies", "w3_small")
    # One task at a time (max_active_tasks=1): weight 9 first; medium's first try (weight 6)
    # before small (3), its retry (weight 1) after it.
    assert started["w9_large"] < started["w3_small"] < started["w6_medium"]
    listing = corpus.web.get(
        f"/api/v1/dags/priority_strategies/dagRuns/{quote(corpus.last_run_id, safe='')}/"
        "taskInstances"
    ).json()["task_instances"]
    weights = {ti["task_id"]: ti["priority_weight"] for ti in listing}
    assert weights == {"w9_large": 9, "w6_medium": 1, "w3_small": 3}


def _scheduled_runs(corpus: Corpus, dag_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 90
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        # 404 until the DAG processor has uploaded the file: no runs yet.
        runs = corpus.web.get(f"/api/v1/dags/{dag_id}/dagRuns").json().get("dag_runs", [])
        done = [r for r in runs if r["run_type"] == "scheduled" and r["state"] == "success"]
        if len(done) >= count:
            return sorted(done, key=lambda r: r["logical_date"])
        time.sleep(0.5)
    raise AssertionError(f"{dag_id} did not run {count} scheduled runs: {runs}")


def test_bundled_timetables_are_evaluated_by_the_dag_processor(corpus: Corpus) -> None:
    runs = _scheduled_runs(corpus, "workday_timetable", 5)
    assert [r["logical_date"][:10] for r in runs] == [
        "2021-01-01",
        "2021-01-04",
        "2021-01-05",
        "2021-01-06",
        "2021-01-07",
    ]
    assert [r["data_interval_end"][:10] for r in runs][:2] == ["2021-01-02", "2021-01-05"]
    corpus.last_run_id = runs[1]["run_id"]
    assert corpus.xcom("workday_timetable", "day") == ["2021-01-04", "2021-01-05"]
    shown = corpus.web.get("/api/v1/dags/workday_timetable").json()
    assert shown["next_dagrun_logical_date"] is None  # the end date is past: no more runs

    events = _scheduled_runs(corpus, "events_timetable", 2)
    corpus.last_run_id = events[0]["run_id"]
    assert corpus.xcom("events_timetable", "event") == "2021-02-01 09:00:00"
    corpus.last_run_id = events[1]["run_id"]
    assert corpus.xcom("events_timetable", "event") == "2021-03-14 09:00:00"


def test_object_storage_paths_on_file_urls(corpus: Corpus) -> None:
    state, tis = corpus.run("object_storage")
    assert state == "success", tis
    assert corpus.xcom("object_storage", "load") == {"files": ["orders.json"], "rows": 3}


def test_asset_or_time_schedule_runs_on_the_clock_and_on_events(corpus: Corpus) -> None:
    # catchup=False: the time side makes one run for the latest 06:00 (Paris) tick at once.
    scheduled = _scheduled_runs(corpus, "prices_report", 1)
    assert scheduled[0]["logical_date"][11:16] in ("05:00", "04:00")  # 06:00 Paris, CET/CEST
    corpus.last_run_id = scheduled[0]["run_id"]
    assert corpus.xcom("prices_report", "report") == "scheduled"
    state, _ = corpus.run("prices_producer")
    assert state == "success"
    deadline = time.monotonic() + 60
    triggered: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not triggered:
        runs = corpus.web.get("/api/v1/dags/prices_report/dagRuns").json()["dag_runs"]
        triggered = [
            r for r in runs if r["run_type"] == "asset_triggered" and r["state"] == "success"
        ]
        time.sleep(0.5)
    assert triggered, runs
    corpus.last_run_id = triggered[0]["run_id"]
    assert corpus.xcom("prices_report", "report") == "asset_triggered"


def test_partitioned_dags_fail_by_name_and_their_neighbour_runs_on_an_asset_ref(
    corpus: Corpus,
) -> None:
    corpus.run("survives_its_neighbour")  # every file of the bundle is uploaded by now
    errors = corpus.airlock("dags", "list-import-errors").stdout
    assert "partitions.py" in errors
    assert "DAG 'partitioned_producer' was not stored" in errors
    assert "schedule=CronPartitionTimetable(...): asset partitions are not supported" in errors
    assert "schedule=PartitionedAssetTimetable(...)" in errors
    # Asset.ref(uri=...) schedules on the asset metadata_producer updates.
    state, _ = corpus.run("metadata_producer")
    assert state == "success"
    corpus.wait_for_triggered_run("unpartitioned_neighbour")
    assert corpus.xcom("unpartitioned_neighbour", "ok") == ["file:///tmp/corpus/orders.csv"]


def _run_for(corpus: Corpus, dag_id: str, logical_date: str) -> str:
    deadline = time.monotonic() + 90
    while True:
        created = corpus.web.post(
            f"/api/v1/dags/{dag_id}/dagRuns", json={"logical_date": logical_date}
        )
        if created.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # the DAG processor has not uploaded the file yet
    assert created.status_code == 201, created.text
    return str(created.json()["run_id"])


def _wait_for_state(corpus: Corpus, dag_id: str, run_id: str) -> str:
    deadline = time.monotonic() + 120
    state = ""
    while time.monotonic() < deadline:
        state = corpus.web.get(f"/api/v1/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}").json()[
            "state"
        ]
        if state in ("success", "failed"):
            return state
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} of {dag_id} is still {state}")


def test_an_external_task_sensor_waits_for_the_other_dags_run(corpus: Corpus) -> None:
    report = _run_for(corpus, "external_report", "2024-05-01T00:00:00Z")

    def states() -> dict[str, Any]:
        listing = corpus.web.get(
            f"/api/v1/dags/external_report/dagRuns/{quote(report, safe='')}/taskInstances"
        ).json()["task_instances"]
        return {t["task_id"]: t["state"] for t in listing}

    # The sensor pokes, finds no run of external_load for that date, and waits.
    assert wait_until(lambda: states()["wait_for_load"] == "up_for_reschedule", 60, 0.3), states()
    assert states()["report"] in (None, "scheduled")
    load = _run_for(corpus, "external_load", "2024-05-01T00:00:00Z")
    assert _wait_for_state(corpus, "external_load", load) == "success"
    assert _wait_for_state(corpus, "external_report", report) == "success"
    corpus.last_run_id = report
    assert corpus.xcom("external_report", "report") == "report 2024-05-01"
