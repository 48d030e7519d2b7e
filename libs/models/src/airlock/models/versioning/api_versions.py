"""The versions of one API, newest first, and what each older version looks like.

:class:`ApiVersions` checks the declarations of :mod:`~airlock.models.versioning.changes` against
the head Structs once, when it is built (a change naming a field the Struct does not have is a
bug of the declaration, found at import rather than by an old client), and answers two questions
for the rest of the mechanism:

- which version a client asked for (:meth:`ApiVersions.resolve`, from the header's text);
- how a Struct's fields and the endpoints' paths are named in each version (:class:`Shape`).

Versions are indexed from 0 (head). Going from version ``i`` to the older ``i + 1`` undoes what
version ``i`` changed: step ``i`` is ``versions[i].changes``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from airlock.models.versioning.changes import (
    MISSING,
    EndpointAdded,
    EndpointMoved,
    EndpointRemoved,
    FieldAdded,
    FieldRemoved,
    FieldRenamed,
    FieldRetyped,
    Schema,
    Version,
    parse_date,
)

#: An endpoint as the head version names it: ``("PATCH", "/task-instances/{ti_id}/run")``.
EndpointKey = tuple[str, str]


class VersionDeclarationError(ValueError):
    """A version declares a change that does not fit the Structs or the other declarations."""


class UnsupportedVersion(ValueError):
    """The client asked for a version this server cannot serve; the message says which exist."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        #: malformed, too-new, too-old or unknown.
        self.reason = reason


@dataclass
class Shape:
    """How one version names what the head version has (only what some change touched)."""

    #: Schema → head wire name → this version's wire name (absent: the field does not exist).
    names: dict[Schema, dict[str, str]] = field(default_factory=dict)
    #: Schema → head wire names whose value has another type here (not to be walked into).
    retyped: dict[Schema, set[str]] = field(default_factory=dict)
    #: Head endpoint → its path in this version, or None where it does not exist.
    paths: dict[EndpointKey, str | None] = field(default_factory=dict)

    def field_name(self, schema: Schema, head_name: str) -> str | None:
        names = self.names.get(schema)
        return head_name if names is None else names.get(head_name)

    def path_of(self, key: EndpointKey) -> str | None:
        return self.paths.get(key, key[1])

    def copy(self) -> Shape:
        return Shape(
            names={s: dict(n) for s, n in self.names.items()},
            retyped={s: set(n) for s, n in self.retyped.items()},
            paths=dict(self.paths),
        )


class ApiVersions:
    """All supported versions of one API (``api`` names it in messages), newest first."""

    def __init__(self, api: str, versions: Sequence[Version]) -> None:
        if not versions:
            raise VersionDeclarationError(f"the {api} API needs at least one version")
        dates = [v.date for v in versions]
        if dates != sorted(set(dates), reverse=True):
            raise VersionDeclarationError(
                f"the {api} API's versions must be listed newest first, each once: {dates}"
            )
        self.api = api
        self.versions: tuple[Version, ...] = tuple(versions)
        self.head = dates[0]
        self.dates: tuple[str, ...] = tuple(dates)
        self._index = {date: i for i, date in enumerate(dates)}
        self.shapes: tuple[Shape, ...] = tuple(_shapes(api, self.versions))

    def __len__(self) -> int:
        return len(self.versions)

    def supported(self) -> str:
        """The versions for a message: ``2026-11-21 (head), 2026-11-01``."""
        return ", ".join(f"{d} (head)" if d == self.head else d for d in self.dates)

    def resolve(self, requested: str | None) -> int:
        """The index of the version ``requested`` names; head when None (no header)."""
        if requested is None:
            return 0
        index = self._index.get(requested)
        if index is not None:
            return index
        shown = requested if len(requested) <= 40 else requested[:40] + "…"
        supported = f"this server supports {self.supported()}"
        day = parse_date(requested)
        if day is None:
            raise UnsupportedVersion(
                f"Airlock-API-Version must be a date written YYYY-MM-DD, got {shown!r}; {supported}",
                reason="malformed",
            )
        if day > dt.date.fromisoformat(self.head):
            raise UnsupportedVersion(
                f"Airlock-API-Version {requested} is newer than this server's {self.api} API "
                f"(head {self.head}): upgrade the server, which must be at least as new as its "
                f"clients; {supported}",
                reason="too-new",
            )
        if day < dt.date.fromisoformat(self.dates[-1]):
            raise UnsupportedVersion(
                f"Airlock-API-Version {requested} is older than the oldest {self.api} API version "
                f"this server still serves: upgrade the client; {supported}",
                reason="too-old",
            )
        raise UnsupportedVersion(
            f"Airlock-API-Version {requested} is not a version of the {self.api} API (a client "
            f"sends the exact date of the version it was written for); {supported}",
            reason="unknown",
        )


def _shapes(api: str, versions: Sequence[Version]) -> list[Shape]:
    """Head's shape, then each older one, undoing each version's changes in turn."""
    head = Shape()
    # A removed endpoint keeps its handler (and its path) for the versions before its removal.
    for version in versions:
        for change in version.changes:
            if isinstance(change, EndpointRemoved):
                head.paths[(change.method.upper(), change.path)] = None
    shapes = [head]
    for version in versions[:-1]:
        older = shapes[-1].copy()
        _undo(api, version, older)
        shapes.append(older)
    return shapes


def _undo(api: str, version: Version, shape: Shape) -> None:
    """Turn ``shape`` (``version``'s) into the shape of the version before it."""

    def fail(message: str) -> VersionDeclarationError:
        return VersionDeclarationError(f"{api} API version {version.date}: {message}")

    for change in reversed(version.changes):
        if isinstance(change, FieldAdded | FieldRemoved | FieldRenamed | FieldRetyped):
            names = _names(shape, change.schema)
            present = set(names.values())
            schema = change.schema.__name__
            if isinstance(change, FieldAdded):
                if change.field not in present:
                    raise fail(f"{schema} gained {change.field!r}, but it has no such field")
                if _required(change.schema, change.field) and change.default is MISSING:
                    raise fail(
                        f"{schema} gained the required field {change.field!r}: older clients "
                        "do not send it, so give it a default in the Struct or in FieldAdded"
                    )
                _rename(names, change.field, None)
            elif isinstance(change, FieldRemoved):
                if change.field in present:
                    raise fail(f"{schema} lost {change.field!r}, but it still has that field")
            elif isinstance(change, FieldRenamed):
                if change.new not in present or change.old in present:
                    raise fail(
                        f"{schema} renamed {change.old!r} to {change.new!r}, but its fields are "
                        f"{sorted(present)}"
                    )
                _rename(names, change.new, change.old)
            else:
                if change.field not in present:
                    raise fail(f"{schema} retyped {change.field!r}, but it has no such field")
                shape.retyped.setdefault(change.schema, set()).update(
                    h for h, n in names.items() if n == change.field
                )
        elif isinstance(change, EndpointAdded):
            shape.paths[_endpoint_at(shape, change.method, change.path)] = None
        elif isinstance(change, EndpointMoved):
            key = _endpoint_at(shape, change.method, change.new_path)
            shape.paths[key] = change.old_path
        elif isinstance(change, EndpointRemoved):
            shape.paths[(change.method.upper(), change.path)] = change.path


def _names(shape: Shape, schema: Schema) -> dict[str, str]:
    names = shape.names.get(schema)
    if names is None:
        names = {f.encode_name: f.encode_name for f in msgspec.structs.fields(schema)}
        shape.names[schema] = names
    return names


def _rename(names: dict[str, str], wire_name: str, to: str | None) -> None:
    """Rename (or, with ``to=None``, drop) the field called ``wire_name`` in this shape."""
    for head_name, name in list(names.items()):
        if name == wire_name:
            if to is None:
                del names[head_name]
            else:
                names[head_name] = to


def _required(schema: Schema, wire_name: str) -> bool:
    return any(f.encode_name == wire_name and f.required for f in msgspec.structs.fields(schema))


def _endpoint_at(shape: Shape, method: str, path: str) -> EndpointKey:
    """The head endpoint that has ``path`` in ``shape`` (whether the app has it is checked
    where the app's endpoints are known, in :mod:`~airlock.models.versioning.gates`)."""
    method = method.upper()
    for key, at in shape.paths.items():
        if key[0] == method and at == path:
            return key
    return (method, path)
