"""Params as Airflow 3 gives them: any schema keyword Airflow accepts (a ``None`` key in
``values_display`` included) serializes; tasks see a plain, validated ``dict``."""

from __future__ import annotations

import pendulum
import pytest

from airlock.sdk import DAG, Param, ParamValidationError, task
from airlock.sdk.serialization.serialize import serialize_dag
from airlock.sdk.testing import InMemoryComms, run_task


def _dag() -> DAG:
    with DAG(
        "params_style",
        start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
        params={
            "choice": Param(
                None,
                type=["null", "string"],
                enum=[None, "a", "b"],
                values_display={None: "Nothing", "a": "Option A", "b": "Option B"},
                title="Choice",
                description_md="**pick** one",
                section="Advanced",
                examples=["a"],
            ),
            "flags": Param({"on": True}, type="object", values_display={True: "yes"}),
            "count": Param(2, type="integer", minimum=1),
        },
    ) as dag:

        @task
        def show(params: dict[str, object] | None = None) -> dict[str, object]:
            assert type(params) is dict
            return dict(params)

        show()
    return dag


def test_every_airflow_schema_key_serializes() -> None:
    params = serialize_dag(_dag()).params
    assert params["choice"].schema["values_display"] == {
        "null": "Nothing",
        "a": "Option A",
        "b": "Option B",
    }
    assert params["choice"].schema["section"] == "Advanced"
    assert params["flags"].schema["values_display"] == {"true": "yes"}


def test_tasks_get_a_plain_validated_dict_with_every_conf_key() -> None:
    comms = InMemoryComms()
    outcome = run_task(_dag().get_task("show"), conf={"choice": "b", "extra": [1, 2]}, comms=comms)
    assert outcome.return_value == {
        "choice": "b",
        "flags": {"on": True},
        "count": 2,
        "extra": [1, 2],
    }


def test_a_conf_value_breaking_the_schema_names_the_param() -> None:
    with pytest.raises(ParamValidationError, match="param 'choice'"):
        run_task(_dag().get_task("show"), conf={"choice": "z"})
