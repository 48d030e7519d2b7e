"""Helpers available in templates as ``{{ macros.… }}`` (Airflow's common ones)."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import date, datetime, timedelta

import pendulum

__all__ = [
    "date",
    "datetime",
    "datetime_diff_for_humans",
    "ds_add",
    "ds_format",
    "json",
    "pendulum",
    "random",
    "time",
    "timedelta",
    "uuid",
]


def ds_add(ds: str, days: int) -> str:
    """``ds`` (``YYYY-MM-DD``) moved by ``days``: ``ds_add("2024-01-30", 3) == "2024-02-02"``."""
    if not days:
        return str(ds)
    return (date.fromisoformat(ds) + timedelta(days=days)).isoformat()


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Re-format a date string: ``ds_format("2024-01-05", "%Y-%m-%d", "%d/%m/%y")``."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)


def datetime_diff_for_humans(dt: datetime, since: datetime | None = None) -> str:
    """How far ``dt`` is from ``since`` (default: now) in words: ``"2 hours ago"``."""
    moment = pendulum.instance(dt)
    return moment.diff_for_humans(pendulum.instance(since) if since is not None else None)
