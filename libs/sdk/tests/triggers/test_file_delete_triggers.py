"""``FileDeleteTrigger`` and ``DirectoryFileDeleteTrigger``: one event per file, which is deleted
first, so an asset watcher never fires twice for it; they serialize for the triggerer."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import pytest

from airlock.sdk import Asset, AssetWatcher
from airlock.sdk.triggers import DirectoryFileDeleteTrigger, FileDeleteTrigger


async def first_event(trigger: Any, then: Any = None) -> Any:
    async def produce() -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    task = asyncio.ensure_future(produce())
    await asyncio.sleep(0.05)
    assert not task.done()  # nothing there yet: it waits
    if then is not None:
        then()
    return await asyncio.wait_for(task, timeout=10)


def test_file_delete_trigger_fires_once_the_file_lands_and_deletes_it(tmp_path: Path) -> None:
    flag = tmp_path / "ready.flag"
    trigger = FileDeleteTrigger(str(flag), poke_interval=0.01)
    assert asyncio.run(first_event(trigger, lambda: flag.write_text("x"))) is True
    assert not flag.exists()


def test_directory_trigger_fires_for_its_file_only(tmp_path: Path) -> None:
    other = tmp_path / "other.flag"
    other.write_text("x")
    trigger = DirectoryFileDeleteTrigger(
        directory=str(tmp_path), filename="orders.flag", poke_interval=0.01
    )
    landed = asyncio.run(first_event(trigger, lambda: (tmp_path / "orders.flag").write_text("x")))
    assert landed == str(tmp_path / "orders.flag")
    assert other.exists()
    assert not (tmp_path / "orders.flag").exists()
    with pytest.raises(ValueError, match="bare file name"):
        DirectoryFileDeleteTrigger(directory=str(tmp_path), filename="a/b")


def test_they_serialize_and_rebuild_as_the_triggerer_does(tmp_path: Path) -> None:
    for trigger in (
        FileDeleteTrigger(str(tmp_path / "x")),
        DirectoryFileDeleteTrigger(directory=str(tmp_path), filename="x"),
    ):
        Asset("inbox", watchers=[AssetWatcher(name="w", trigger=trigger)])
        classpath, kwargs = trigger.serialize()
        module, _, name = classpath.rpartition(".")
        rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
        assert rebuilt.serialize() == (classpath, kwargs)
