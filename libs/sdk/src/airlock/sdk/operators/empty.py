"""EmptyOperator: a node that does nothing (the scheduler completes it without a worker)."""

from __future__ import annotations

from typing import Any

from airlock.sdk.definitions.baseoperator import BaseOperator


class EmptyOperator(BaseOperator):
    """Does nothing; useful to join or fan out branches."""

    ui_color = "#e8f7e4"
    inherits_from_empty_operator = True

    def execute(self, context: Any) -> None:
        return None
