"""``airlock migrate-from-airflow`` and ``airlock dags test`` as a user runs them: real
processes, no services."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).parent / "fixtures" / "airflow_style"


def airlock(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env["AIRLOCK_HOME"] = str(cwd / "home")
    return subprocess.run(
        [sys.executable, "-m", "airlock.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_dry_run_shows_a_diff_writes_nothing_and_reports_what_cannot_be_ported(
    tmp_path: Path,
) -> None:
    source = textwrap.dedent("""\
        import pendulum
        from airflow.sdk import DAG, task, no_such_name
        from airflow.providers.standard.operators.python import (
            PythonOperator,  # kept as written
        )
        from airflow.models import DagRun
        """)
    path = tmp_path / "dag.py"
    path.write_text(source)
    result = airlock("migrate-from-airflow", "--dry-run", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert path.read_text() == source
    assert "-from airflow.sdk import DAG, task, no_such_name" in result.stdout
    assert "+from airlock.sdk import DAG, task, no_such_name" in result.stdout
    assert "+from airlock.sdk.operators.python import (" in result.stdout
    assert "dag.py:2: `no_such_name` (from `airflow.sdk`) is not in `airlock.sdk`" in result.stderr
    assert "dag.py:6: `airflow.models` cannot be carried over" in result.stderr
    assert "would rewrite 1 of 1 file(s); 2 thing(s) to port by hand" in result.stderr


def test_ported_corpus_runs_with_dags_test_and_no_services(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    shutil.copytree(CORPUS, dags)
    ported = airlock("migrate-from-airflow", str(dags), cwd=tmp_path)
    assert ported.returncode == 0, ported.stderr
    assert (
        "from airlock.sdk.operators.python import ShortCircuitOperator\n"
        in (dags / "branching.py").read_text()
    )
    mapped = airlock("dags", "test", "mapping_style", "--folder", str(dags), cwd=tmp_path)
    assert mapped.returncode == 0, mapped.stderr
    assert "[mapping_style] scale[3]: success" in mapped.stderr
    assert "[mapping_style] never: skipped (nothing to map over)" in mapped.stderr
    branched = airlock(
        "dags",
        "test",
        "branching_style",
        "--conf",
        '{"mode": "slow"}',
        "--folder",
        str(dags),
        cwd=tmp_path,
    )
    assert branched.returncode == 0, branched.stderr
    assert "[branching_style] fast: skipped" in branched.stderr
    assert "[branching_style] slow: success" in branched.stderr
    stateful = airlock("dags", "test", "state_stores", "--folder", str(dags), cwd=tmp_path)
    assert stateful.returncode == 0, stateful.stderr
    assert "[state_stores] submit_job: try 1 failed: RuntimeError" in stateful.stderr
    assert "[state_stores] submit_job: success" in stateful.stderr
    broken = airlock("dags", "test", "has_a_cycle", "--folder", str(dags), cwd=tmp_path)
    assert broken.returncode == 2
    assert "the DAG has a cycle: a -> b -> a" in broken.stderr


def test_a_failing_dag_test_exits_1_with_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "fails.py").write_text(
        textwrap.dedent("""\
            import pendulum
            from airlock.sdk import dag, task

            @dag(start_date=pendulum.datetime(2021, 1, 1, tz="UTC"), schedule=None)
            def fails():
                @task
                def boom():
                    raise RuntimeError("on purpose")
                boom()

            fails()
            """)
    )
    result = airlock("dags", "test", "fails", "--file", str(tmp_path / "fails.py"), cwd=tmp_path)
    assert result.returncode == 1
    assert "RuntimeError: on purpose" in result.stderr
    assert result.stdout.strip().endswith(": failed")


def test_the_migration_maps_modules_as_the_sdk_readme_table_says() -> None:
    from airlock.cli.commands.migrate_from_airflow import target_module

    table = (Path(__file__).resolve().parents[1] / "libs" / "sdk" / "README.md").read_text()
    rows = re.findall(r"^\| `(airflow\.[\w.]+)` \| `(airlock\.[\w.]+)` \|", table, re.MULTILINE)
    assert len(rows) > 40
    for airflow_name, airlock_name in rows:
        # a name is imported from its module; the module map must send one to the other
        airflow_module, airlock_module = (
            airflow_name.rsplit(".", 1)[0],
            airlock_name.rsplit(".", 1)[0],
        )
        assert target_module(airflow_module) == airlock_module, airflow_name
    # the two submodules in the table are also imported as modules
    assert target_module("airflow.sdk.timezone") == "airlock.sdk.timezone"
