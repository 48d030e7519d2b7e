"""The words an API version is written in: what changed in it, one declaration per change.

A version is named by the date it was released (``YYYY-MM-DD``) and lists what changed *in that
version*, compared with the version before it. The handlers and Structs of the API only ever
know the newest (head) shape; these declarations are all the server needs to serve a client
pinned to any older version (see :mod:`airlock.models.versioning.gates` for how they apply):

- ``FieldAdded(Workload, "dag_rel_path")`` — the Struct gained a field. Older clients never see it
  in a response; their requests, which lack it, take the Struct's default (or ``default=``).
- ``FieldRemoved(Workload, "fileloc", type=str, default="")`` — the Struct lost a field. Older
  clients still receive it (``default``, or what a :class:`ResponseConverter` derives); what they
  still send is dropped.
- ``FieldRenamed(Workload, old="relative_fileloc", new="dag_rel_path")``.
- ``FieldRetyped(Workload, "timeout", old_type=int, to_old=..., to_new=...)`` — same name, another
  type; the two functions convert one value each way.
- ``EndpointAdded("GET", "/things")`` / ``EndpointRemoved(...)`` — an endpoint that did not exist
  before this version (404 for older clients), or that exists no more from this version on (its
  handler stays in the code for older clients; 404 for this version and newer).
- ``EndpointMoved("GET", old_path="/stuff/{id}", new_path="/things/{id}")``.
- ``RequestConverter`` / ``ResponseConverter`` — code for what a declaration cannot say, such as a
  field whose value is derived from others. A request converter sees an older client's body in
  the older shape and turns it into the newer one; a response converter sees the newer shape and
  turns it into the older one. Each runs before the declarations of its version.

Field names are the names on the wire; endpoint paths are relative to the API's prefix and name
path parameters like the handlers do (``/task-instances/{ti_id}/run``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: "No value given" (``None`` is a value a field may take).
MISSING: Any = _Missing()

Schema = type[msgspec.Struct]


@dataclass(frozen=True)
class FieldAdded:
    """``schema`` gained ``field`` in this version."""

    schema: Schema
    field: str
    #: What an older client's request gets for it; MISSING leaves it to the Struct's default.
    default: Any = MISSING


@dataclass(frozen=True)
class FieldRemoved:
    """``schema`` lost ``field`` in this version."""

    schema: Schema
    field: str
    #: The type the field had, for the older versions' OpenAPI documents.
    type: Any
    #: What older clients receive in its place (unless a ResponseConverter sets it first).
    default: Any


@dataclass(frozen=True)
class FieldRenamed:
    """``schema``'s field ``old`` is called ``new`` from this version on."""

    schema: Schema
    old: str
    new: str


@dataclass(frozen=True)
class FieldRetyped:
    """``schema``'s ``field`` changed type in this version."""

    schema: Schema
    field: str
    #: The type it had before, for the older versions' OpenAPI documents.
    old_type: Any
    #: One value of the old type to the new one (requests of older clients)…
    to_new: Callable[[Any], Any]
    #: …and back (responses to older clients).
    to_old: Callable[[Any], Any]


@dataclass(frozen=True)
class EndpointAdded:
    method: str
    path: str


@dataclass(frozen=True)
class EndpointRemoved:
    method: str
    path: str


@dataclass(frozen=True)
class EndpointMoved:
    method: str
    old_path: str
    new_path: str


@dataclass(frozen=True)
class RequestConverter:
    """Turn an older client's request into this version's shape.

    With ``schema``, ``convert`` receives each instance of that Struct (a dict, changed in place);
    with ``endpoint`` (``("PUT", "/things/{id}")``), the whole body, and returns the new body.
    """

    convert: Callable[[Any], Any]
    schema: Schema | None = None
    endpoint: tuple[str, str] | None = None


@dataclass(frozen=True)
class ResponseConverter:
    """Turn this version's response into the shape of the version before; as RequestConverter."""

    convert: Callable[[Any], Any]
    schema: Schema | None = None
    endpoint: tuple[str, str] | None = None


FieldChange = FieldAdded | FieldRemoved | FieldRenamed | FieldRetyped
EndpointChange = EndpointAdded | EndpointRemoved | EndpointMoved
Converter = RequestConverter | ResponseConverter
Change = FieldChange | EndpointChange | Converter

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Version:
    """One released version of an API: its date, a sentence for people, what changed in it."""

    date: str
    summary: str
    changes: tuple[Change, ...] = field(default=())

    def __post_init__(self) -> None:
        if not parse_date(self.date):
            raise ValueError(f"version {self.date!r} is not a date written YYYY-MM-DD")

    def __str__(self) -> str:
        return self.date


def parse_date(text: str) -> dt.date | None:
    """The date ``text`` names when written strictly as YYYY-MM-DD, else None."""
    if not _DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None
