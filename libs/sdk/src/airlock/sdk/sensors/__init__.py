"""Built-in sensors (Airflow 3's names): waits on time and on files, which can defer to the
triggerer instead of holding a worker slot."""

from airlock.sdk.sensors.filesystem import FileSensor
from airlock.sdk.sensors.time import (
    DateTimeSensor,
    DateTimeSensorAsync,
    TimeDeltaSensor,
    TimeDeltaSensorAsync,
)

__all__ = [
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "FileSensor",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
]
