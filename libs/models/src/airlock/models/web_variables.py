"""Web API payloads of variables: configuration tasks read at run time.

A value whose key names a secret is answered as ``***``; ``bundle_name`` limits which bundle's
tasks may read a variable (none: every bundle's). Tasks change only their bundle's variables, and
a global one only when ``task_writable`` grants it.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

KEY_MAX = 250

VariableKey = Annotated[str, msgspec.Meta(min_length=1, max_length=KEY_MAX)]


class VariableView(msgspec.Struct, kw_only=True, frozen=True):
    key: str
    #: The value, or ``***`` when the key names a secret.
    value: str
    description: str | None = None
    bundle_name: str | None = None
    is_encrypted: bool = False
    #: A global variable the tasks of every bundle may change.
    task_writable: bool = False


class VariableCollection(msgspec.Struct, kw_only=True, frozen=True):
    variables: list[VariableView]
    total_entries: int


class VariableCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    key: VariableKey
    value: str
    description: str | None = None
    #: Only this bundle's tasks may read it; none: every bundle's.
    bundle_name: str | None = None
    #: Let every bundle's tasks change this global variable.
    task_writable: bool = False


class VariablePatch(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    value: str | None = None
    description: str | None = None
    task_writable: bool | None = None
