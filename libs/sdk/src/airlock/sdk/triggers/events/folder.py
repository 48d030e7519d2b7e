"""A folder watcher: one asset event per new or changed file.

The folder is scanned every ``poll_s``; a file is reported when it appears or its modification
time or size changes, once — a file that merely stays there is not reported again (the seed's
"infinite scheduling" is what this avoids). The dedup key is ``path:mtime_ns:size``: after a
restart every file is offered again and the ones already stored come back ``duplicate``, so
nothing is doubled and a change made while no triggerer ran is still seen.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airlock.sdk.bases.trigger import (
    BaseEventTrigger,
    EventBatch,
    ExternalEvent,
    SourceStatus,
    TriggerEvent,
    classpath_of,
)


class FolderTrigger(BaseEventTrigger):
    """Watch ``folder`` (recursively with ``recursive``) for files matching ``pattern``."""

    def __init__(
        self, folder: str, *, pattern: str = "*", recursive: bool = False, poll_s: float = 1.0
    ) -> None:
        self.folder = folder
        self.pattern = pattern
        self.recursive = recursive
        self.poll_s = poll_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return classpath_of(self), {
            "folder": self.folder,
            "pattern": self.pattern,
            "recursive": self.recursive,
            "poll_s": self.poll_s,
        }

    def _scan(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for root, dirs, files in os.walk(self.folder):
            if not self.recursive:
                dirs.clear()
            for name in files:
                if not fnmatch.fnmatch(name, self.pattern):
                    continue
                path = os.path.join(root, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue  # removed between the listing and the stat
                found[path] = (stat.st_mtime_ns, stat.st_size)
        return found

    async def run(self) -> AsyncIterator[TriggerEvent | Any]:
        seen: dict[str, tuple[int, int]] = {}
        missing = False
        yield SourceStatus("running")
        while True:
            if not Path(self.folder).is_dir():
                if not missing:
                    missing = True
                    yield SourceStatus("reconnecting", error=f"folder {self.folder} is missing")
                await asyncio.sleep(self.poll_s)
                continue
            if missing:
                missing = False
                yield SourceStatus("running")
            current = await asyncio.to_thread(self._scan)
            changed = sorted(p for p, state in current.items() if seen.get(p) != state)
            if changed:
                yield EventBatch(
                    [
                        ExternalEvent(
                            f"{p}:{current[p][0]}:{current[p][1]}",
                            {"path": p, "mtime_ns": current[p][0], "size": current[p][1]},
                        )
                        for p in changed
                    ]
                )
            seen = current
            await asyncio.sleep(self.poll_s)
