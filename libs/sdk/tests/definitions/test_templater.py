"""Jinja templating of template_fields with the usual context keys."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airlock.sdk import DAG, BashOperator, PythonOperator, literal
from airlock.sdk.testing import InMemoryComms, run_task

LOGICAL = datetime(2024, 3, 5, 6, 30, tzinfo=UTC)


def _render(task, **kwargs):
    """Run ``task`` with a callable that returns its rendered op_kwargs."""
    return run_task(task, logical_date=LOGICAL, **kwargs).return_value


def _echo(values):
    return values


def test_date_keys_params_and_macros() -> None:
    with DAG("tpl", schedule=None, params={"region": "eu"}, user_defined_macros={"team": "t"}):
        op = PythonOperator(
            task_id="render",
            python_callable=_echo,
            op_args=[
                {
                    "ds": "{{ ds }}",
                    "ds_nodash": "{{ ds_nodash }}",
                    "ts": "{{ ts }}",
                    "logical": "{{ logical_date.year }}",
                    "start": "{{ data_interval_start | ds }}",
                    "end": "{{ data_interval_end.isoformat() }}",
                    "params": "{{ params.region }}-{{ params.size }}",
                    "week": "{{ macros.ds_add(ds, 7) }}",
                    "format": "{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }}",
                    "ids": "{{ dag.dag_id }}/{{ task.task_id }}/{{ ti.task_id }}/{{ run_id }}",
                    "conf": "{{ dag_run.conf.get('who', 'nobody') }}",
                    "macro": "{{ team }}",
                }
            ],
            params={"size": 3},
        )
    rendered = _render(op, run_id="run_1", conf={"who": "me"})
    assert rendered == {
        "ds": "2024-03-05",
        "ds_nodash": "20240305",
        "ts": "2024-03-05T06:30:00+00:00",
        "logical": "2024",
        "start": "2024-03-05",
        "end": "2024-03-05T06:30:00+00:00",
        "params": "eu-3",
        "week": "2024-03-12",
        "format": "05/03/2024",
        "ids": "tpl/render/render/run_1",
        "conf": "me",
        "macro": "t",
    }


def test_conf_overrides_params_and_is_validated() -> None:
    from airlock.sdk import Param, ParamValidationError

    with DAG("tpl", schedule=None, params={"n": Param(1, type="integer", maximum=5)}):
        op = PythonOperator(task_id="p", python_callable=_echo, op_args=[{"n": "{{ params.n }}"}])
    assert _render(op, conf={"n": 4}) == {"n": "4"}
    with pytest.raises(ParamValidationError, match=r"DAG 'tpl'.*param 'n'"):
        _render(op, conf={"n": 9})


def test_var_and_conn_in_templates() -> None:
    from airlock.sdk import Connection

    comms = InMemoryComms(
        variables={"bucket": "b1", "cfg": '{"depth": 2}'},
        connections={"db": Connection(conn_id="db", conn_type="postgres", host="db.local")},
    )
    with DAG("tpl", schedule=None):
        op = PythonOperator(
            task_id="p",
            python_callable=_echo,
            op_args=[
                {
                    "bucket": "{{ var.value.bucket }}",
                    "depth": "{{ var.json.cfg.depth }}",
                    "default": "{{ var.value.get('missing', 'fallback') }}",
                    "host": "{{ conn.db.host }}",
                }
            ],
        )
    rendered = _render(op, comms=comms)
    assert rendered == {"bucket": "b1", "depth": "2", "default": "fallback", "host": "db.local"}


def test_nested_structures_xcom_args_and_literal() -> None:
    with DAG("tpl", schedule=None):
        first = PythonOperator(task_id="first", python_callable=lambda: "from-xcom")
        op = PythonOperator(
            task_id="second",
            python_callable=_echo,
            op_args=[
                {
                    "items": ["{{ ds }}", ("{{ ds_nodash }}", 1)],
                    "mapping": {"k": "{{ params.get('x', 'none') }}"},
                    "pulled": first.output,
                    "raw": literal("{{ ds }}"),
                }
            ],
        )
    comms = InMemoryComms()
    run_task(first, logical_date=LOGICAL, comms=comms)
    rendered = _render(op, comms=comms)
    assert rendered == {
        "items": ["2024-03-05", ("20240305", 1)],
        "mapping": {"k": "none"},
        "pulled": "from-xcom",
        "raw": "{{ ds }}",
    }
    assert op.op_args[0]["items"] == ["{{ ds }}", ("{{ ds_nodash }}", 1)], "original untouched"


def test_undefined_variable_in_template_fails() -> None:
    import jinja2

    with DAG("tpl", schedule=None):
        op = BashOperator(task_id="b", bash_command="echo {{ not_a_key }}")
    with pytest.raises(jinja2.UndefinedError):
        run_task(op, logical_date=LOGICAL)


def test_template_file_from_dag_folder(tmp_path) -> None:
    (tmp_path / "script.sh").write_text("echo file-{{ ds_nodash }}\n")
    with DAG("tpl", schedule=None, template_searchpath=[str(tmp_path)]):
        op = BashOperator(task_id="b", bash_command="script.sh")
    assert run_task(op, logical_date=LOGICAL).return_value == "file-20240305"


def test_native_rendering() -> None:
    with DAG("tpl", schedule=None, render_template_as_native_obj=True):
        op = PythonOperator(
            task_id="p", python_callable=_echo, op_args=[{"n": "{{ 1 + 2 }}", "l": "{{ [1, 2] }}"}]
        )
    assert _render(op) == {"n": 3, "l": [1, 2]}


def test_no_date_keys_without_logical_date() -> None:
    with DAG("tpl", schedule=None):
        op = PythonOperator(
            task_id="p", python_callable=_echo, op_args=[{"has": "{{ ds is defined }}"}]
        )
    assert run_task(op).return_value == {"has": "False"}
