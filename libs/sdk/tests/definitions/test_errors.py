"""Parse-time errors: each names the DAG, the task (where there is one) and the problem."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from airlock.sdk import (
    DAG,
    BashOperator,
    DagDefinitionError,
    EmptyOperator,
    Param,
    TaskGroup,
    dag,
    task,
)
from airlock.sdk.definitions.timetables import (
    ContinuousTimetable,
    CronTriggerTimetable,
    OnceTimetable,
)


def _cyclic() -> None:
    with DAG("cyclic", schedule=None):
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        c = EmptyOperator(task_id="c")
        a >> b >> c >> a


def _self_loop() -> None:
    with DAG("s", schedule=None):
        solo = EmptyOperator(task_id="solo")
        solo >> solo


def _setup_followed_by_all_done() -> None:
    with DAG("st", schedule=None):
        setup_op = EmptyOperator(task_id="s").as_setup()
        setup_op >> EmptyOperator(task_id="w", trigger_rule="all_done")


def test_cycle_names_the_path() -> None:
    with pytest.raises(DagDefinitionError) as info:
        _cyclic()
    message = str(info.value)
    assert "DAG 'cyclic'" in message
    assert "cycle: a -> b -> c -> a" in message
    assert info.value.dag_id == "cyclic"
    assert info.value.task_id == "a"


def test_cycle_added_after_close_is_caught_by_validate() -> None:
    with DAG("late_cycle", schedule=None) as late:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        a >> b
    b >> a
    with pytest.raises(DagDefinitionError, match=r"DAG 'late_cycle'.*a -> b -> a"):
        late.validate()


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(DagDefinitionError, match="cycle: solo -> solo"):
        _self_loop()


def test_duplicate_task_id() -> None:
    with DAG("dupes", schedule=None):
        EmptyOperator(task_id="same")
        with pytest.raises(DagDefinitionError) as info:
            BashOperator(task_id="same", bash_command="true")
    message = str(info.value)
    assert "DAG 'dupes'" in message
    assert "task 'same'" in message
    assert "duplicate task id" in message
    assert "EmptyOperator" in message


def test_duplicate_in_decorated_dag() -> None:
    @dag(schedule=None)
    def with_dupes():
        EmptyOperator(task_id="x")
        EmptyOperator(task_id="x")

    with pytest.raises(DagDefinitionError, match=r"DAG 'with_dupes', task 'x': duplicate"):
        with_dupes()


def test_unknown_trigger_rule_lists_valid_ones() -> None:
    with DAG("rules", schedule=None), pytest.raises(DagDefinitionError) as info:
        EmptyOperator(task_id="bad", trigger_rule="all_sucess")
    message = str(info.value)
    assert "DAG 'rules', task 'bad'" in message
    assert "'all_sucess'" in message
    for rule in ("all_success", "none_failed_min_one_success", "all_done_setup_success"):
        assert rule in message


def test_unknown_trigger_rule_on_decorated_task() -> None:
    with DAG("rules", schedule=None):

        @task(trigger_rule="sometimes")
        def t():
            return 1

        with pytest.raises(DagDefinitionError, match="task 't': unknown trigger_rule 'sometimes'"):
            t()


@pytest.mark.parametrize(
    ("schedule", "detail"),
    [
        ("0 25 * * *", "hour field '25': 25 is outside 0-23"),
        ("* * *", "it has 3 field(s)"),
        ("0 0 * * MON-XYZ", "day-of-week"),
        ("@sometimes", "not a known preset"),
        ("*/0 * * * *", "a step of 0"),
    ],
)
def test_bad_cron_names_the_string(schedule: str, detail: str) -> None:
    with pytest.raises(DagDefinitionError) as info:
        DAG("crons", schedule=schedule)
    message = str(info.value)
    assert "DAG 'crons'" in message
    assert repr(schedule) in message
    assert detail in message


@pytest.mark.parametrize(
    ("schedule", "expression"),
    [
        ("0 0 * * *", "0 0 * * *"),
        ("*/15 9-17 * * MON-FRI", "*/15 9-17 * * MON-FRI"),
        ("0 0 1,15 * *", "0 0 1,15 * *"),
        ("0 12 L * *", "0 12 L * *"),
        ("0 0 * JAN-MAR 5#2", "0 0 * JAN-MAR 5#2"),
        ("0 0 ? * 1", "0 0 ? * 1"),
        ("@daily", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@quarterly", "0 0 1 */3 *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_good_cron_and_presets(schedule: str, expression: str) -> None:
    built = DAG("crons", schedule=schedule)
    assert isinstance(built.timetable, CronTriggerTimetable)
    assert built.timetable.expression == expression
    assert built.timetable.summary == schedule


@pytest.mark.parametrize(
    ("schedule", "kind"), [("@once", OnceTimetable), ("@continuous", ContinuousTimetable)]
)
def test_once_and_continuous_are_their_own_timetables(schedule: str, kind: type) -> None:
    built = DAG("presets", schedule=schedule, max_active_runs=1)
    assert type(built.timetable) is kind
    assert built.timetable.summary == schedule


def test_schedule_without_start_date_is_allowed() -> None:
    built = DAG("no_start", schedule="@daily")
    assert built.start_date is None


def test_unsupported_schedule_type() -> None:
    with pytest.raises(DagDefinitionError, match=r"DAG 'weird': schedule 42 \(int\)"):
        DAG("weird", schedule=42)


def test_continuous_requires_one_active_run() -> None:
    with pytest.raises(DagDefinitionError, match="max_active_runs=1"):
        DAG("cont", schedule="@continuous")


def test_expand_with_non_mappable_argument() -> None:
    with DAG("mapping", schedule=None):

        @task
        def double(x: int):
            return x * 2

        with pytest.raises(DagDefinitionError) as info:
            double.expand(x=5)
        with pytest.raises(DagDefinitionError, match="got str 'abc'"):
            double.expand(x="abc")
    message = str(info.value)
    assert "DAG 'mapping', task 'double'" in message
    assert "cannot expand argument 'x'" in message
    assert "got int 5" in message


def test_expand_unknown_and_duplicate_arguments() -> None:
    with DAG("mapping", schedule=None):

        @task
        def add(x: int, y: int):
            return x + y

        with pytest.raises(DagDefinitionError, match="add\\(\\) has no such parameter"):
            add.partial(y=1).expand(z=[1])
        with pytest.raises(DagDefinitionError, match="both partial\\(\\) and expand\\(\\)"):
            add.partial(y=1).expand(y=[1])
        with pytest.raises(DagDefinitionError, match="missing argument"):
            add.expand(x=[1, 2])
        with pytest.raises(DagDefinitionError, match="cannot expand 'retries'"):
            BashOperator.partial(task_id="b").expand(retries=[1, 2])
        with pytest.raises(DagDefinitionError, match="has no such argument"):
            BashOperator.partial(task_id="c").expand(nope=[1])
        with pytest.raises(DagDefinitionError, match="element 0 must be a dict"):
            BashOperator.partial(task_id="d").expand_kwargs([1])


def test_unknown_operator_argument() -> None:
    with DAG("args", schedule=None), pytest.raises(DagDefinitionError) as info:
        BashOperator(task_id="b", bash_command="true", retires=3)
    assert "task 'b'" in str(info.value)
    assert "['retires']" in str(info.value)


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(DagDefinitionError, match="keyword arguments only"):
        EmptyOperator("positional")  # type: ignore[misc]


def test_decorated_call_with_wrong_arguments() -> None:
    with DAG("calls", schedule=None):

        @task
        def needs_two(a, b):
            return a + b

        with pytest.raises(DagDefinitionError, match=r"task 'needs_two'.*missing argument"):
            needs_two(1)
        with pytest.raises(DagDefinitionError, match="do not match"):
            needs_two(1, 2, 3)


def test_invalid_ids() -> None:
    with pytest.raises(DagDefinitionError, match="dag_id 'has space'"):
        DAG("has space")
    with DAG("ids", schedule=None):
        with pytest.raises(DagDefinitionError, match="DAG 'ids': task_id 'a/b'"):
            EmptyOperator(task_id="a/b")
        with pytest.raises(DagDefinitionError, match="group_id"):
            TaskGroup("bad group")


def test_group_and_task_id_collision() -> None:
    with DAG("collide", schedule=None):
        EmptyOperator(task_id="section")
        with pytest.raises(DagDefinitionError, match="already used"):
            TaskGroup("section", prefix_group_id=False)


def test_invalid_param_default_fails_at_parse() -> None:
    with pytest.raises(DagDefinitionError) as info:
        DAG("params", params={"n": Param("five", type="integer")})
    assert "DAG 'params'" in str(info.value)
    assert "param 'n'" in str(info.value)


def test_setup_must_be_followed_by_all_success() -> None:
    with pytest.raises(DagDefinitionError, match="must use trigger rule 'all_success'"):
        _setup_followed_by_all_done()


def test_bad_durations_and_values() -> None:
    with DAG("vals", schedule=None):
        with pytest.raises(DagDefinitionError, match="retry_delay must be a timedelta"):
            EmptyOperator(task_id="a", retry_delay="soon")
        with pytest.raises(DagDefinitionError, match="retries must be 0 or more"):
            EmptyOperator(task_id="b", retries=-1)
        with pytest.raises(DagDefinitionError, match="unknown weight_rule"):
            EmptyOperator(task_id="c", weight_rule="sideways")
        with pytest.raises(DagDefinitionError, match="on_success_callback must be a callable"):
            EmptyOperator(task_id="d", on_success_callback="notify")
    with pytest.raises(DagDefinitionError, match="dagrun_timeout must be a timedelta"):
        DAG("t", dagrun_timeout=5)  # type: ignore[arg-type]
    with pytest.raises(DagDefinitionError, match="end_date"):
        DAG("t", start_date=datetime(2024, 2, 1), end_date=datetime(2024, 1, 1))
    assert EmptyOperator(task_id="ok", retry_delay=30).retry_delay == timedelta(seconds=30)
