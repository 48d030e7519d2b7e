"""Parser and task limits (issue 18, part 9), on ``airlock run-all`` with small caps: a DAG file or
a task that allocates past its memory cap fails saying which limit it hit, and processes a DAG
file or a task starts in the background are gone once the parse or the task ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import psutil
import pytest

from tests.security.test_isolation import logged_in, run_to_end, task_log, wait_for_dag
from tests.support.processes import RunAll

MARKER = "# airlock dag\n"
BIG_PARSE = MARKER + "hoard = bytearray(600 * 2**20)\n"
SPAWNS_AT_PARSE = MARKER + (
    "import subprocess\n"
    "subprocess.Popen(['sleep', '371'])\n"
    "subprocess.Popen(['sleep', '372'], start_new_session=True)\n"
)
TASKS = """
import subprocess
from datetime import datetime

from airlock.sdk import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def limits():
    @task
    def hoard() -> None:
        data = bytearray(600 * 2**20)
        print(len(data))

    @task
    def spawn() -> None:
        subprocess.Popen(["sleep", "373"])

    hoard()
    spawn()


limits()
"""


def sleepers(*seconds: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline[:1] == ["sleep"] and cmdline[1:] and cmdline[1] in seconds:
            found.append(process)
    return found


def import_errors(web: httpx.Client) -> dict[str, str]:
    listing = web.get("/api/v1/importErrors").json()
    return {e["filename"]: e["stack_trace"] for e in listing["import_errors"]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunAll, httpx.Client]]:
    base = tmp_path_factory.mktemp("limits")
    dags = base / "dags"
    dags.mkdir()
    (dags / "big_parse.py").write_text(BIG_PARSE)
    (dags / "spawns_at_parse.py").write_text(SPAWNS_AT_PARSE)
    (dags / "limits.py").write_text(TASKS)
    run_all = RunAll.start(
        base,
        dags,
        AIRLOCK_DAG_PROCESSOR__PARSER_MEMORY_MB="300",
        AIRLOCK_WORKER__TASK_MEMORY_MB="300",
    )
    web = logged_in(run_all)
    try:
        yield run_all, web
    finally:
        web.close()
        run_all.stop()


def wait_for_errors(web: httpx.Client, *files: str, timeout_s: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        errors = import_errors(web)
        if all(f in errors for f in files):
            return errors
        time.sleep(0.5)
    raise AssertionError(f"no import error for {files}: {import_errors(web)}")


@pytest.mark.slow
def test_a_dag_file_over_the_parser_memory_cap_is_an_import_error_naming_it(
    stack: tuple[RunAll, httpx.Client],
) -> None:
    _, web = stack
    error = wait_for_errors(web, "big_parse.py")["big_parse.py"]
    assert "MemoryError" in error
    assert "memory limit of 300 MiB ([dag_processor] parser_memory_mb)" in error


@pytest.mark.slow
def test_processes_a_dag_file_starts_are_killed_when_its_parse_ends(
    stack: tuple[RunAll, httpx.Client],
) -> None:
    _, web = stack
    error = wait_for_errors(web, "spawns_at_parse.py")["spawns_at_parse.py"]
    assert "left 2 process(es) running after import; they were killed" in error
    assert sleepers("371", "372") == []


@pytest.mark.slow
def test_a_task_over_its_memory_cap_fails_saying_so_and_leaves_nothing_behind(
    stack: tuple[RunAll, httpx.Client],
) -> None:
    _, web = stack
    wait_for_dag(web, "limits")
    run_id, run = run_to_end(web, "limits")
    assert run["state"] == "failed"
    lines = task_log(web, "limits", run_id, "hoard")
    assert any(
        "went over the worker's limit of 300 MiB per task ([worker] task_memory_mb)" in line
        for line in lines
    ), lines
    assert any("MemoryError" in line for line in lines), lines
    listing = web.get(f"/api/v1/dags/limits/dagRuns/{quote(run_id, safe='')}/taskInstances")
    states = {ti["task_id"]: ti["state"] for ti in listing.json()["task_instances"]}
    assert states == {"hoard": "failed", "spawn": "success"}, states
    assert sleepers("373") == []
