"""File triggers: ``FileTrigger`` (fire once a path or glob matches a file) and the event
triggers ``FileDeleteTrigger`` / ``DirectoryFileDeleteTrigger`` (fire once per file, deleting it)."""

from __future__ import annotations

import glob
import os
from collections.abc import AsyncIterator
from typing import Any

from airlock.sdk.bases.trigger import BaseEventTrigger, BaseTrigger, TriggerEvent


class FileTrigger(BaseTrigger):
    def __init__(self, filepath: str, recursive: bool = False, poke_interval: float = 5.0) -> None:
        self.filepath = filepath
        self.recursive = recursive
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airlock.sdk.triggers.file.FileTrigger",
            {
                "filepath": self.filepath,
                "recursive": self.recursive,
                "poke_interval": self.poke_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import asyncio  # here: it runs in the triggerer's loop; task processes need not load it

        while True:
            found = await asyncio.to_thread(self._find)
            if found is not None:
                yield TriggerEvent(found)
                return
            await asyncio.sleep(self.poke_interval)

    def _find(self) -> str | None:
        for path in glob.glob(self.filepath, recursive=self.recursive):
            if os.path.isfile(path):
                return path
        return None


class FileDeleteTrigger(BaseEventTrigger):
    """An event trigger (``AssetWatcher``): fire once ``filepath`` is a file, deleting it first,
    so the same file never fires twice."""

    def __init__(self, filepath: str, poke_interval: float = 5.0) -> None:
        self.filepath = filepath
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airlock.sdk.triggers.file.FileDeleteTrigger",
            {"filepath": self.filepath, "poke_interval": self.poke_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import asyncio  # here: it runs in the triggerer's loop; task processes need not load it

        while True:
            if await asyncio.to_thread(_delete_if_file, self.filepath):
                yield TriggerEvent(True)
                return
            await asyncio.sleep(self.poke_interval)


class DirectoryFileDeleteTrigger(BaseEventTrigger):
    """As :class:`FileDeleteTrigger`, for the file ``filename`` landing in ``directory``; the
    event is the deleted file's path."""

    def __init__(self, *, directory: str, filename: str, poke_interval: float = 5.0) -> None:
        if not filename or os.sep in filename or (os.altsep and os.altsep in filename):
            raise ValueError(f"filename must be a bare file name, got {filename!r}")
        self.directory = directory
        self.filename = filename
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airlock.sdk.triggers.file.DirectoryFileDeleteTrigger",
            {
                "directory": self.directory,
                "filename": self.filename,
                "poke_interval": self.poke_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import asyncio  # here: it runs in the triggerer's loop; task processes need not load it

        path = os.path.join(self.directory, self.filename)
        while True:
            if await asyncio.to_thread(_delete_if_file, path):
                yield TriggerEvent(path)
                return
            await asyncio.sleep(self.poke_interval)


def _delete_if_file(path: str) -> bool:
    """Delete ``path`` if it is a file; whether this call deleted it (another process may have
    been first)."""
    if not os.path.isfile(path):
        return False
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    return True
