"""An XCom key cannot hold '/': the task fails with an error that says so, before any call."""

from __future__ import annotations

from typing import Any

import pytest

from airlock.sdk import dag, task
from airlock.sdk.testing import InMemoryComms, run_task


def test_a_dict_key_with_a_slash_fails_the_task_naming_the_key() -> None:
    @dag(schedule=None)
    def paths() -> None:
        @task(multiple_outputs=True)
        def produce() -> dict[str, Any]:
            return {"s3://bucket/key": 1}

        produce()

    comms = InMemoryComms()
    with pytest.raises(ValueError, match=r"XCom key 's3://bucket/key' contains '/'"):
        run_task(paths().task_dict["produce"], comms=comms)


def test_keys_without_a_slash_are_pushed() -> None:
    @dag(schedule=None)
    def fine() -> None:
        @task(multiple_outputs=True)
        def produce() -> dict[str, Any]:
            return {"s3:bucket:key": 1}

        produce()

    comms = InMemoryComms()
    run_task(fine().task_dict["produce"], comms=comms)
    assert any("s3:bucket:key" in str(key) for key in comms.xcoms)
