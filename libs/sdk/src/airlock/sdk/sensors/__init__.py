"""The standard sensors (Airflow keeps them in ``airflow.providers.standard.sensors``): waits on
time and on files, which can defer to the triggerer instead of holding a worker slot."""

from airlock.sdk.sensors.date_time import DateTimeSensor, DateTimeSensorAsync
from airlock.sdk.sensors.external_task import ExternalTaskSensor
from airlock.sdk.sensors.filesystem import FileSensor
from airlock.sdk.sensors.time_delta import TimeDeltaSensor, TimeDeltaSensorAsync

__all__ = [
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "ExternalTaskSensor",
    "FileSensor",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
]
