"""``FileSensor``: wait until a path (or glob) matches a file; ``deferrable=True`` waits in the
triggerer (:class:`~airlock.sdk.triggers.FileTrigger`) instead of a worker slot."""

from __future__ import annotations

import glob
import os
from typing import Any

from airlock.sdk.bases.sensor import BaseSensorOperator
from airlock.sdk.triggers.file import FileTrigger


class FileSensor(BaseSensorOperator):
    template_fields = ("filepath",)

    def __init__(
        self, *, filepath: str, recursive: bool = False, deferrable: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.recursive = recursive
        self.deferrable = deferrable

    def poke(self, context: Any) -> bool:
        return any(os.path.isfile(p) for p in glob.glob(self.filepath, recursive=self.recursive))

    def execute(self, context: Any) -> Any:
        if not self.deferrable or self.poke(context):
            return super().execute(context) if not self.deferrable else None
        self.defer(
            trigger=FileTrigger(self.filepath, self.recursive, self.poke_interval),
            method_name="execute_complete",
            timeout=self.timeout,
        )

    def execute_complete(self, context: Any, event: Any = None) -> Any:
        """The file appeared; the event's payload is its path."""
        return event
