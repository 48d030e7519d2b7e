"""`airlock dag-processor` as a real process against a real Internal API.

The processor parses in child processes; what a DAG file does (hang, exit, crash, leave threads,
reach for the DB) costs that file an import error and nothing else.
"""

from __future__ import annotations

import selectors
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from airlock.core.secrets_key import read_secrets_keys
from airlock.core.tokens import TokenKind
from airlock.dag_processor.bundle import LocalBundle
from airlock.dag_processor.processor import DagProcessor
from airlock.db import (
    Dag,
    DagVersion,
    ParseImportError,
    SecretBox,
    Variable,
    make_engine,
    make_session_factory,
)
from airlock.sdk.api import InternalClient
from tests.support.processes import ApiServer, Home
from tests.support.waiting import alive, wait_until

GOOD = """
from datetime import datetime
from airlock.sdk import dag, task

@dag(dag_id="{dag_id}", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["{tag}"])
def pipeline():
    @task
    def extract():
        return 1

    @task
    def load(x):
        print(x)

    load(extract())

pipeline()
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def processor_env(
    home: Home, api: ApiServer, bundle: str, folder: Path, timeout_s: float
) -> dict[str, str]:
    token = home.token(TokenKind.SERVICE, "dp", role="dag-processor", bundles=[bundle])
    folder.chmod(0o755)  # DAG files are parsed as nobody: the bundle must be theirs to read
    env = {
        k: v
        for k, v in home.env.items()
        if not k.startswith(("AIRLOCK_DATABASE", "AIRLOCK_SECRETS"))
    }
    env.update(
        {
            "AIRLOCK_ZONE": "processing",
            "AIRLOCK_DAG_PROCESSOR__API_URL": api.url,
            "AIRLOCK_DAG_PROCESSOR__TOKEN": token,
            "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"{bundle}={folder}",
            "AIRLOCK_DAG_PROCESSOR__FILE_TIMEOUT_S": str(timeout_s),
        }
    )
    return env


def run_processor(
    home: Home, api: ApiServer, bundle: str, folder: Path, timeout_s: float = 3
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airlock.cli", "dag-processor", "--bundle", bundle, "--once"],
        env=processor_env(home, api, bundle, folder, timeout_s),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def rows(home: Home, model: type, **where: object) -> list:
    engine = make_engine(home.db_url)
    try:
        with make_session_factory(engine)() as session:
            return list(session.scalars(select(model).filter_by(**where)).all())
    finally:
        engine.dispose()


def errors_by_file(home: Home, bundle: str) -> dict[str, str]:
    return {e.filename: e.stacktrace for e in rows(home, ParseImportError, bundle_name=bundle)}


def test_versions_follow_file_changes(home: Home, api: ApiServer, tmp_path: Path) -> None:
    write(tmp_path, "pipe.py", GOOD.format(dag_id="dp_pipe", tag="one"))
    first = run_processor(home, api, "dp-life", tmp_path)
    assert "1 new DAG version(s)" in first.stdout
    again = run_processor(home, api, "dp-life", tmp_path)
    assert "parsed 0 file(s), 1 unchanged" in again.stdout
    write(tmp_path, "pipe.py", GOOD.format(dag_id="dp_pipe", tag="two"))
    run_processor(home, api, "dp-life", tmp_path)
    versions = rows(home, DagVersion, dag_id="dp_pipe")
    assert sorted(v.version_number for v in versions) == [1, 2]
    (dag,) = rows(home, Dag, dag_id="dp_pipe")
    assert dag.tags == ["two"]
    assert dag.bundle_name == "dp-life"
    (tmp_path / "pipe.py").unlink()
    gone = run_processor(home, api, "dp-life", tmp_path)
    assert "1 deleted" in gone.stdout
    (dag,) = rows(home, Dag, dag_id="dp_pipe")
    assert dag.is_stale


CLOCKED = """
from datetime import UTC, datetime, timedelta
from airlock.sdk import DAG, task
from airlock.sdk.timetables import DagRunInfo, Timetable

class Clocked(Timetable):
    \"\"\"Its one run is a day after the parse: every parse lists another run.\"\"\"

    def next_dagrun_info(self, *, last_automated_data_interval, restriction):
        if last_automated_data_interval is not None:
            return None
        return DagRunInfo.exact(datetime.now(UTC) + timedelta(days=1))

with DAG("dp_clocked", schedule=Clocked(), start_date=datetime(2024, 1, 1)):
    task(lambda: 1, task_id="one")()
# {comment}
"""


def test_a_timetable_in_python_lists_new_runs_without_a_new_version(
    home: Home, api: ApiServer, tmp_path: Path
) -> None:
    write(tmp_path, "clocked.py", CLOCKED.format(comment="first"))
    run_processor(home, api, "dp-clocked", tmp_path)
    (first,) = rows(home, Dag, dag_id="dp_clocked")
    write(tmp_path, "clocked.py", CLOCKED.format(comment="parsed again"))
    run_processor(home, api, "dp-clocked", tmp_path)
    (second,) = rows(home, Dag, dag_id="dp_clocked")
    assert [v.version_number for v in rows(home, DagVersion, dag_id="dp_clocked")] == [1]
    runs = [dag.listed_runs["runs"][0]["run_after"] for dag in (first, second)]
    assert runs[0] < runs[1]


def test_misbehaving_files_cost_only_themselves(home: Home, api: ApiServer, tmp_path: Path) -> None:
    write(tmp_path, "good.py", GOOD.format(dag_id="dp_survivor", tag="ok"))
    marker = "# airlock dag\n"
    write(tmp_path, "hangs.py", marker + "import time\ntime.sleep(600)\n")
    write(tmp_path, "exits.py", marker + "import sys\nsys.exit(3)\n")
    write(tmp_path, "hard_exit.py", marker + "import os\nos._exit(7)\n")
    write(tmp_path, "segfault.py", marker + "import ctypes\nctypes.string_at(0)\n")
    write(
        tmp_path,
        "threads.py",
        marker
        + "import threading, time\nthreading.Thread(target=time.sleep, args=(30,), name='poller').start()\n",
    )
    write(tmp_path, "syntax.py", marker + "def broken(:\n")
    result = run_processor(home, api, "dp-bad", tmp_path, timeout_s=2)
    errors = errors_by_file(home, "dp-bad")
    assert "took longer than 2 s" in errors["hangs.py"]
    assert "called sys.exit(3)" in errors["exits.py"]
    assert "exited with code 7" in errors["hard_exit.py"]
    assert "exited with code -11" in errors["segfault.py"]
    assert "left 1 thread(s) running" in errors["threads.py"]
    assert "poller" in errors["threads.py"]
    assert "SyntaxError" in errors["syntax.py"]
    assert "good.py" not in errors
    assert rows(home, Dag, dag_id="dp_survivor"), result.stdout + result.stderr


def test_no_parser_outlives_a_processor_killed_mid_parse(
    home: Home, api: ApiServer, tmp_path: Path
) -> None:
    for n in range(3):
        write(
            tmp_path,
            f"slow_{n}.py",
            """
            # airlock dag
            import os, sys, time
            print(f"parsing in {os.getpid()}", file=sys.stderr, flush=True)
            time.sleep(30)
            print("still parsing after the processor died")
            """,
        )
    processor = subprocess.Popen(
        [sys.executable, "-m", "airlock.cli", "dag-processor", "--bundle", "dp-kill", "--once"],
        env=processor_env(home, api, "dp-kill", tmp_path, 60),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    parsers: list[int] = []
    try:
        assert processor.stderr is not None
        waiting = selectors.DefaultSelector()
        waiting.register(processor.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        while len(parsers) < 2 and time.monotonic() < deadline:
            if waiting.select(1):
                line = processor.stderr.readline().decode()
                if line.startswith("parsing in "):
                    parsers.append(int(line.split()[-1]))
        assert len(parsers) >= 2, "parsing started"
        processor.kill()
        # The pipes reach end of file only once no parser holds them any more.
        out, err = processor.communicate(timeout=10)
    finally:
        processor.kill()
        processor.wait()
    assert wait_until(lambda: not any(alive(pid) for pid in parsers), 5), "no parser survived"
    assert b"Traceback" not in err, err.decode()
    assert b"still parsing" not in out + err


def test_dag_files_cannot_reach_the_database(home: Home, api: ApiServer, tmp_path: Path) -> None:
    marker = "# airlock dag\n"
    write(tmp_path, "imports_db.py", marker + "import airlock.db\n")
    write(tmp_path, "imports_sqlalchemy.py", marker + "from sqlalchemy import create_engine\n")
    write(
        tmp_path,
        "imports_signer.py",
        marker + "from airlock.core.tokens.signer import TokenSigner\n",
    )
    write(
        tmp_path,
        "reads_env.py",
        marker
        + textwrap.dedent("""
        import os
        leaked = {k: v for k, v in os.environ.items() if k.startswith("AIRLOCK_") and k != "AIRLOCK_ZONE"}
        assert not leaked, f"leaked: {sorted(leaked)}"
        """),
    )
    write(
        tmp_path,
        "reads_settings.py",
        marker
        + textwrap.dedent("""
        from airlock.core.settings import load_settings
        settings = load_settings()
        assert settings.database.url is None
        settings.database_url()
        """),
    )
    run_processor(home, api, "dp-sneaky", tmp_path)
    errors = errors_by_file(home, "dp-sneaky")
    for name in ("imports_db.py", "imports_sqlalchemy.py", "imports_signer.py"):
        assert "is not available to DAG files" in errors[name], errors[name]
    assert "reads_env.py" not in errors, errors.get("reads_env.py")
    assert "processing zone, which has no database access" in errors["reads_settings.py"]


def test_top_level_variables_come_through_the_internal_api_once_per_pass(
    home: Home, api: ApiServer, tmp_path: Path
) -> None:
    box = SecretBox(read_secrets_keys(home.path / "keys" / "secrets.key"))
    engine = make_engine(home.db_url)
    with make_session_factory(engine).begin() as session:
        variable = Variable(key="dp_owner_tag", bundle_name="dp-vars")
        variable.set_value("finance", box)
        session.add(variable)
    engine.dispose()
    reader = """
        from datetime import datetime
        from airlock.sdk import DAG, EmptyOperator, Variable
        with DAG("{dag_id}", schedule=None, tags=[Variable.get("dp_owner_tag"), Variable.get("dp_missing", default="none")]):
            EmptyOperator(task_id="noop")
        """
    for n in range(3):
        write(tmp_path, f"reader_{n}.py", reader.format(dag_id=f"dp_reader_{n}"))
    requests: list[str] = []

    class Counting(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            requests.append(request.url.path)
            return super().handle_request(request)

    token = home.token(TokenKind.SERVICE, "dp", role="dag-processor", bundles=["dp-vars"])
    processor = DagProcessor(
        LocalBundle("dp-vars", tmp_path),
        InternalClient(api.url, token, transport=Counting()),
        parsers=2,
    )
    try:
        report = processor.run_pass()
    finally:
        processor.close()
    assert report.import_errors == [], errors_by_file(home, "dp-vars")
    for n in range(3):
        (dag,) = rows(home, Dag, dag_id=f"dp_reader_{n}")
        assert dag.tags == ["finance", "none"]
    assert requests.count("/internal/bundles/dp-vars/variables/dp_owner_tag") == 1
    assert requests.count("/internal/bundles/dp-vars/variables/dp_missing") == 1


@pytest.mark.parametrize("bundle_in_token", ["other"])
def test_processor_for_a_bundle_its_token_does_not_name_fails_clearly(
    home: Home, api: ApiServer, tmp_path: Path, bundle_in_token: str
) -> None:
    write(tmp_path, "pipe.py", GOOD.format(dag_id="dp_denied", tag="x"))
    token = home.token(TokenKind.SERVICE, "dp", role="dag-processor", bundles=[bundle_in_token])
    env = {k: v for k, v in home.env.items() if not k.startswith("AIRLOCK_DATABASE")}
    env.update(
        {
            "AIRLOCK_DAG_PROCESSOR__API_URL": api.url,
            "AIRLOCK_DAG_PROCESSOR__TOKEN": token,
            "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"denied={tmp_path}",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "airlock.cli", "dag-processor", "--bundle", "denied", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "403" in result.stderr
    assert "not 'denied'" in result.stderr


def test_every_example_dag_parses(home: Home, api: ApiServer) -> None:
    examples = Path(__file__).resolve().parents[1] / "deploy" / "dags"
    result = run_processor(home, api, "examples", examples)
    assert errors_by_file(home, "examples") == {}, result.stdout
    dags = {d.dag_id for d in rows(home, Dag, bundle_name="examples")}
    assert {
        "taskflow_etl",
        "dynamic_mapping",
        "branching",
        "groups_and_setup",
        "bash_and_sensor",
        "assets_producer",
        "assets_consumer",
        "assets_any_consumer",
        "example_callbacks",
        "orders_from_redis",
    } <= dags


def test_a_dag_of_ten_thousand_tasks_is_stored(home: Home, api: ApiServer, tmp_path: Path) -> None:
    write(
        tmp_path,
        "huge.py",
        """
        from datetime import datetime
        from airlock.sdk import DAG, EmptyOperator, chain
        with DAG("dp_huge", schedule=None, start_date=datetime(2026, 1, 1)):
            chain(*[EmptyOperator(task_id=f"t{i:05d}") for i in range(10_000)])
        """,
    )
    write(tmp_path, "small.py", GOOD.format(dag_id="dp_small_neighbour", tag="x"))
    run_processor(home, api, "dp-huge", tmp_path, timeout_s=60)
    assert errors_by_file(home, "dp-huge") == {}
    (version,) = rows(home, DagVersion, dag_id="dp_huge")
    assert version.decompressed_size > 10_000 * 50
    assert version.blob_size < version.decompressed_size / 5
    assert rows(home, Dag, dag_id="dp_small_neighbour")
