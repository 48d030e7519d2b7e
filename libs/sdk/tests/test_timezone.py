"""Every date flavour an Airflow DAG file uses is accepted, stored exactly and handed back as
pendulum (part 1 of Airflow parity)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import msgspec
import pendulum
import pytest

from airlock.models.codec import decode_dag, encode_and_compress
from airlock.sdk import DAG, CronTriggerTimetable, DagDefinitionError, Param, task
from airlock.sdk.definitions import macros
from airlock.sdk.sensors.date_time import DateTimeSensor
from airlock.sdk.serialization.serialize import serialize_dag
from airlock.sdk.testing import InMemoryComms, run_task
from airlock.sdk.timezone import coerce_datetime, json_enc_hook, timezone_name, to_stdlib

_NY = zoneinfo.ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("start", "instant", "zone"),
    [
        (
            pendulum.datetime(2021, 1, 1, tz="Europe/Paris"),
            "2020-12-31T23:00:00+00:00",
            "Europe/Paris",
        ),
        (pendulum.datetime(2021, 1, 1), "2021-01-01T00:00:00+00:00", "UTC"),
        (pendulum.date(2021, 1, 1), "2021-01-01T00:00:00+00:00", "UTC"),
        (dt.date(2021, 1, 1), "2021-01-01T00:00:00+00:00", "UTC"),
        (dt.datetime(2021, 1, 1), "2021-01-01T00:00:00+00:00", "UTC"),
        (dt.datetime(2021, 1, 1, tzinfo=_NY), "2021-01-01T05:00:00+00:00", "America/New_York"),
        (
            dt.datetime(2021, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
            "2020-12-31T18:30:00+00:00",
            "+05:30",
        ),
        (
            pendulum.datetime(2021, 1, 1, tz=pendulum.FixedTimezone(-7200)),
            "2021-01-01T02:00:00+00:00",
            "-02:00",
        ),
    ],
)
def test_start_date_flavours_serialize(start: object, instant: str, zone: str) -> None:
    with DAG(
        "dates", start_date=start, end_date=pendulum.datetime(2030, 1, 1), schedule="@daily"
    ) as dag:

        @task
        def noop() -> None: ...

        noop()
    assert isinstance(dag.start_date, pendulum.DateTime)
    serialized = serialize_dag(dag)
    assert serialized.timezone == zone
    assert serialized.start_date is not None
    assert serialized.start_date.astimezone(dt.UTC).isoformat() == instant
    again = decode_dag(encode_and_compress(serialized)[0], max_size=1 << 20)
    assert again.start_date == serialized.start_date
    assert again.end_date == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_a_non_date_start_date_is_refused_by_name() -> None:
    with pytest.raises(DagDefinitionError, match=r"start_date must be a datetime.*str"):
        DAG("bad", start_date="2021-01-01")


def test_timezone_names() -> None:
    assert timezone_name(pendulum.timezone("Asia/Tokyo")) == "Asia/Tokyo"
    assert timezone_name(_NY) == "America/New_York"
    assert timezone_name(dt.UTC) == "UTC"
    assert timezone_name("Europe/Paris") == "Europe/Paris"
    with pytest.raises(Exception, match="Nowhere"):
        timezone_name("Nowhere/Land")


def test_cron_timetable_takes_a_tzinfo_and_rejects_an_unknown_name() -> None:
    assert (
        CronTriggerTimetable("@daily", timezone=pendulum.timezone("Asia/Tokyo")).timezone
        == "Asia/Tokyo"
    )
    with pytest.raises(DagDefinitionError, match="Mars/Base"):
        CronTriggerTimetable("@daily", timezone="Mars/Base")


def test_param_defaults_may_be_dates_and_validate_as_iso_text() -> None:
    dag = DAG(
        "params",
        params={
            "day": Param(pendulum.date(2021, 1, 2), type="string", format="date"),
            "at": Param(pendulum.datetime(2021, 1, 2, 3), type="string", format="date-time"),
        },
    )
    assert dag.params["day"] == "2021-01-02"
    assert dag.params["at"] == "2021-01-02T03:00:00+00:00"
    assert serialize_dag(dag).params["day"].default == "2021-01-02"


def test_context_dates_are_pendulum_and_templates_use_them() -> None:
    with DAG("ctx", start_date=pendulum.datetime(2021, 1, 1)) as dag:

        @task
        def look(ds: str | None = None) -> dict[str, object]:
            from airlock.sdk import get_current_context

            context = get_current_context()
            logical = context["logical_date"]
            assert isinstance(logical, pendulum.DateTime)
            assert isinstance(context["data_interval_end"], pendulum.DateTime)
            assert isinstance(context["dag_run"].logical_date, pendulum.DateTime)
            return {
                "next_day": logical.add(days=1).to_date_string(),
                "ds": context["ds"],
                "ts": context["ts"],
                "when": logical,
            }

        look()
    comms = InMemoryComms()
    outcome = run_task(
        dag.get_task("look"), logical_date=dt.datetime(2021, 3, 4, 5, tzinfo=dt.UTC), comms=comms
    )
    assert outcome.state == "success"
    assert comms.xcoms_of("look")["return_value"] == {
        "next_day": "2021-03-05",
        "ds": "2021-03-04",
        "ts": "2021-03-04T05:00:00+00:00",
        "when": "2021-03-04T05:00:00+00:00",
    }


def test_date_time_sensor_renders_a_pendulum_expression() -> None:
    with DAG("sensing", start_date=pendulum.datetime(2021, 1, 1)):
        past = DateTimeSensor(task_id="past", target_time="{{ logical_date.add(hours=1) }}")
        future = DateTimeSensor(
            task_id="future", target_time=pendulum.now("UTC").add(days=1), mode="reschedule"
        )
    assert run_task(past, logical_date=pendulum.datetime(2021, 1, 1)).state == "success"
    assert run_task(future, logical_date=pendulum.datetime(2021, 1, 1)).state == "up_for_reschedule"


def test_conversions_and_macros() -> None:
    paris = pendulum.datetime(2021, 6, 1, 12, tz="Europe/Paris")
    plain = to_stdlib(paris)
    assert type(plain) is dt.datetime
    assert plain == paris
    assert coerce_datetime(dt.datetime(2021, 1, 1)) == pendulum.datetime(2021, 1, 1)
    assert msgspec.json.encode([paris, pendulum.duration(minutes=1)], enc_hook=json_enc_hook) == (
        b'["2021-06-01T12:00:00+02:00",60.0]'
    )
    assert macros.datetime_diff_for_humans(paris, paris.add(days=1)) == "1 day before"


def test_time_delta_sensor_waits_past_the_interval_end() -> None:
    from airlock.sdk.sensors.time_delta import TimeDeltaSensor

    with DAG("delta_sensing", start_date=pendulum.datetime(2021, 1, 1)):
        done = TimeDeltaSensor(task_id="done", delta=pendulum.duration(hours=1))
        waiting = TimeDeltaSensor(task_id="waiting", delta=dt.timedelta(days=1), mode="reschedule")
    old = pendulum.datetime(2021, 1, 1)
    assert run_task(done, logical_date=old).state == "success"
    now = pendulum.now("UTC")
    assert run_task(waiting, logical_date=now).state == "up_for_reschedule"
