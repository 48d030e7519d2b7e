"""``FileTrigger``: fire once a path (or glob) matches a file."""

from __future__ import annotations

import glob
import os
from collections.abc import AsyncIterator
from typing import Any

from airlock.sdk.bases.trigger import BaseTrigger, TriggerEvent


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
