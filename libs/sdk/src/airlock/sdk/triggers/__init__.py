"""The built-in triggers: waits on time and on files (Airflow 3's names)."""

from airlock.sdk.triggers.file import DirectoryFileDeleteTrigger, FileDeleteTrigger, FileTrigger
from airlock.sdk.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger

__all__ = [
    "DateTimeTrigger",
    "DirectoryFileDeleteTrigger",
    "FileDeleteTrigger",
    "FileTrigger",
    "TimeDeltaTrigger",
]
