"""BashOperator and @task.bash: exit codes, skip code 99, env, cwd, last line, templating."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airlock.sdk import DAG, BashOperator
from airlock.sdk.exceptions import AirlockException
from airlock.sdk.testing import InMemoryComms, run_task

LOGICAL = datetime(2024, 5, 17, tzinfo=UTC)


def _bash(**kwargs) -> BashOperator:
    with DAG("bash", schedule=None, params={"who": "world"}):
        return BashOperator(task_id="b", **kwargs)


def test_returns_last_line_of_output() -> None:
    op = _bash(bash_command="echo first; echo second >&2; echo last")
    outcome = run_task(op)
    assert outcome.state == "success"
    assert outcome.return_value == "last"


def test_non_zero_exit_fails() -> None:
    with pytest.raises(AirlockException, match="exited with code 3"):
        run_task(_bash(bash_command="echo oops; exit 3"))


def test_exit_code_99_skips() -> None:
    outcome = run_task(_bash(bash_command="exit 99"))
    assert outcome.state == "skipped"
    custom = run_task(_bash(bash_command="exit 42", skip_on_exit_code=[42, 43]))
    assert custom.state == "skipped"
    with pytest.raises(AirlockException):
        run_task(_bash(bash_command="exit 99", skip_on_exit_code=None))


def test_env_replaces_or_appends(monkeypatch) -> None:
    monkeypatch.setenv("FROM_PARENT", "parent")
    replaced = _bash(bash_command='echo "${FROM_PARENT:-unset} $MINE"', env={"MINE": "mine"})
    assert run_task(replaced).return_value == "unset mine"
    appended = _bash(
        bash_command='echo "$FROM_PARENT $MINE"', env={"MINE": "mine"}, append_env=True
    )
    assert run_task(appended).return_value == "parent mine"
    inherited = _bash(bash_command='echo "$FROM_PARENT $AIRLOCK_CTX_TASK_ID"')
    assert run_task(inherited).return_value == "parent b"


def test_cwd(tmp_path) -> None:
    assert run_task(_bash(bash_command="pwd", cwd=str(tmp_path))).return_value == str(tmp_path)
    with pytest.raises(AirlockException, match="does not exist"):
        run_task(_bash(bash_command="pwd", cwd=str(tmp_path / "missing")))


def test_templated_command_env_and_output_processor() -> None:
    op = _bash(
        bash_command="echo {{ ds }} {{ params.who }} $WHEN",
        env={"WHEN": "{{ ds_nodash }}"},
        output_processor=lambda out: out.split(),
    )
    assert run_task(op, logical_date=LOGICAL).return_value == ["2024-05-17", "world", "20240517"]


def test_bash_templating_fixture(load_dags) -> None:
    dag = load_dags("bash_templating.py")["bash_templating"]
    comms = InMemoryComms()
    templated = run_task(dag.get_task("templated"), logical_date=LOGICAL, run_id="r1", comms=comms)
    assert templated.return_value == "2024-05-17 20240517 staging 5 2024-05-24 airlock"
    dynamic = run_task(
        dag.get_task("dynamic"), logical_date=LOGICAL, conf={"env": "prod"}, comms=comms
    )
    assert dynamic.return_value == "hello prod world"


def test_task_bash_must_return_a_command() -> None:
    from airlock.sdk import task

    with DAG("bash", schedule=None):

        @task.bash
        def empty():
            return "   "

        op = empty().operator
    with pytest.raises(AirlockException, match="non-empty command"):
        run_task(op)
