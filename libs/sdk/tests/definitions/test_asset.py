"""Assets, aliases, & / | expressions, watchers and asset schedules."""

from __future__ import annotations

import pytest

from airlock.sdk import (
    DAG,
    Asset,
    AssetAlias,
    AssetAll,
    AssetAny,
    AssetWatcher,
    BaseEventTrigger,
    DagDefinitionError,
)
from airlock.sdk.definitions.timetables import AssetTriggeredTimetable


def test_name_or_uri_alone() -> None:
    by_name = Asset("orders")
    by_uri = Asset(uri="s3://bucket/orders")
    assert (by_name.name, by_name.uri) == ("orders", "orders")
    assert (by_uri.name, by_uri.uri) == ("s3://bucket/orders", "s3://bucket/orders")
    assert Asset("orders") == Asset(name="orders", uri="orders")
    assert len({Asset("a"), Asset("a"), Asset("b")}) == 2


def test_invalid_assets() -> None:
    with pytest.raises(DagDefinitionError, match="needs a name, a uri"):
        Asset()
    with pytest.raises(DagDefinitionError, match="reserved scheme"):
        Asset(uri="airflow://x")
    with pytest.raises(DagDefinitionError, match="ASCII"):
        Asset("caf\u00e9")
    with pytest.raises(DagDefinitionError, match="AssetWatcher 'w'"):
        AssetWatcher(name="w", trigger=object())  # type: ignore[arg-type]


def test_boolean_expressions_flatten() -> None:
    a, b, c = Asset("a"), Asset("b"), Asset("c")
    assert a & b & c == AssetAll(a, b, c)
    assert a | b | c == AssetAny(a, b, c)
    mixed = (a & b) | c
    assert isinstance(mixed, AssetAny)
    assert list(mixed.iter_assets()) == [a, b, c]
    alias = AssetAlias("exports")
    assert list((a | alias).iter_aliases()) == [alias]


def test_schedules_on_assets(load_dags) -> None:
    dags = load_dags("asset_scheduled.py")
    expr = dags["consumer_expr"].timetable
    assert isinstance(expr, AssetTriggeredTimetable)
    assert isinstance(expr.condition, AssetAny)
    listed = dags["consumer_list"].timetable
    assert isinstance(listed, AssetTriggeredTimetable)
    assert isinstance(listed.condition, AssetAll)
    produce = dags["producer"].get_task("produce")
    assert produce.outlets == [
        Asset("orders", uri="s3://warehouse/orders", group="sales"),
        AssetAlias("daily-exports"),
    ]


def test_watcher_trigger_serializes() -> None:
    class Ticker(BaseEventTrigger):
        def serialize(self):
            return ("mod.Ticker", {"every": 5})

    asset = Asset("ticks", watchers=[AssetWatcher(name="tick", trigger=Ticker())])
    with DAG("watched", schedule=asset) as dag:
        pass
    assert isinstance(dag.timetable, AssetTriggeredTimetable)
    assert asset.watchers[0].trigger.serialize() == ("mod.Ticker", {"every": 5})


def test_unsupported_airflow_asset_features_fail_the_dag_using_them_by_name() -> None:
    from airlock.sdk.operators.empty import EmptyOperator
    from airlock.sdk.serialization import serialize_dag

    controlled = Asset("orders", access_control={"team": "a"})
    with DAG("uses_it", schedule=controlled) as dag:
        pass
    with pytest.raises(DagDefinitionError, match="access_control= is not supported"):
        serialize_dag(dag)
    with DAG("updates_a_name", schedule=None) as dag:
        EmptyOperator(task_id="t", outlets=[Asset.ref(name="orders")])
    with pytest.raises(DagDefinitionError, match=r"outlets and inlets need the uri"):
        serialize_dag(dag)
    by_uri = Asset.ref(uri="s3://lake/orders")
    assert (by_uri.name, by_uri.uri) == ("s3://lake/orders", "s3://lake/orders")
    with pytest.raises(DagDefinitionError, match="needs name= or uri="):
        Asset.ref()


def test_a_schedule_on_an_asset_name_is_resolved_by_the_control_plane() -> None:
    from airlock.models.dag import AssetAnyCond, AssetNameRef, AssetRef, AssetSchedule
    from airlock.sdk.serialization import serialize_dag

    with DAG("on_name", schedule=Asset.ref(name="orders") | Asset("s3://lake/x")) as dag:
        pass
    schedule = serialize_dag(dag).schedule
    assert isinstance(schedule, AssetSchedule)
    assert schedule.condition == AssetAnyCond(
        items=[AssetNameRef(name="orders"), AssetRef(name="s3://lake/x", uri="s3://lake/x")]
    )


def test_a_schedule_on_an_alias_fails_the_dag_by_name() -> None:
    from airlock.sdk import AssetAlias
    from airlock.sdk.serialization import serialize_dag

    with DAG("on_alias", schedule=Asset("a") | AssetAlias("daily-exports")) as dag:
        pass
    with pytest.raises(DagDefinitionError, match=r"AssetAlias\('daily-exports'\) is not supported"):
        serialize_dag(dag)
