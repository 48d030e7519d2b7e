"""Variables: named strings (often JSON) stored by Airlock, read from task code or DAG files."""

from __future__ import annotations

import json
from typing import Any

from airlock.sdk.definitions.param import NOTSET
from airlock.sdk.execution_time.comms import get_comms


class Variable:
    """``Variable.get("key")``; the class holds no state of its own."""

    def __init__(self, key: str, value: Any = None, description: str | None = None) -> None:
        self.key = key
        self.value = value
        self.description = description

    def __repr__(self) -> str:
        return f"Variable(key={self.key!r})"

    @staticmethod
    def get(key: str, default: Any = NOTSET, deserialize_json: bool = False) -> Any:
        """The variable's value; ``default`` if it does not exist, else ``KeyError``."""
        value = get_comms(f"Variable.get({key!r})").get_variable(key)
        if value is None:
            if default is NOTSET:
                raise KeyError(f"Variable {key} does not exist")
            return default
        return json.loads(value) if deserialize_json else value

    @staticmethod
    def set(
        key: str, value: Any, description: str | None = None, serialize_json: bool = False
    ) -> None:
        stored = json.dumps(value, indent=2) if serialize_json else str(value)
        get_comms(f"Variable.set({key!r})").set_variable(key, stored, description)

    @staticmethod
    def delete(key: str) -> None:
        get_comms(f"Variable.delete({key!r})").delete_variable(key)
