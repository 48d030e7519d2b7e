"""Migration gates: turn an older client's request body into head's, and head's response body
into the older client's (Stripe's method, as Cadwyn does for FastAPI).

Bodies are handled as decoded JSON (dicts, lists, scalars). A client ``k`` versions behind head
goes through ``k`` gates, one per version between its own and head, each undoing (responses) or
redoing (requests) what that version changed::

    request  of a 2026-11-01 client ──▶ gate of 2026-11-21 ──▶ … ──▶ head handler
    response to a 2026-11-01 client ◀── gate of 2026-11-21 ◀── … ◀── head handler

:class:`VersionGates` compiles, for every endpoint and every step, a walk over the endpoint's
head request and response types (``msgspec.inspect``) that visits only the places where a Struct
touched by that step can be, so an untouched endpoint costs nothing and a touched one only what it
must. Within one visit a Struct's fields are reached before the Struct itself is changed, so the
walk follows the names of the shape the body is in.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec.inspect as mi

from airlock.models.versioning.api_versions import (
    ApiVersions,
    EndpointKey,
    Shape,
    VersionDeclarationError,
)
from airlock.models.versioning.changes import (
    MISSING,
    Change,
    EndpointAdded,
    EndpointMoved,
    EndpointRemoved,
    FieldAdded,
    FieldRemoved,
    FieldRenamed,
    FieldRetyped,
    RequestConverter,
    ResponseConverter,
    Schema,
)

#: Called on each instance (a dict) of a Struct a step touches, after its fields were walked.
Visit = Callable[[Schema, dict[str, Any]], None]
Walk = Callable[[Any, Visit], None]
Gate = Callable[[Any], Any]


@dataclass(frozen=True)
class Endpoint:
    """An endpoint of the head version and the head types of its JSON bodies (None: no body)."""

    method: str
    path: str
    request: Any = None
    response: Any = None

    @property
    def key(self) -> EndpointKey:
        return (self.method.upper(), self.path)


class VersionGates:
    """Everything an API needs at request time to serve each of its versions."""

    def __init__(self, versions: ApiVersions, endpoints: Iterable[Endpoint]) -> None:
        self.versions = versions
        self.endpoints = {e.key: e for e in endpoints}
        _check_endpoints(versions, self.endpoints)
        steps = len(versions) - 1
        up: dict[EndpointKey, list[Gate | None]] = {}
        down: dict[EndpointKey, list[Gate | None]] = {}
        for key, endpoint in self.endpoints.items():
            up[key] = [_request_gate(versions, endpoint, j) for j in range(steps)]
            down[key] = [_response_gate(versions, endpoint, j) for j in range(steps)]
        #: (version index, endpoint) → the gates a request passes, oldest first.
        self._up = {
            (k, key): [g for g in reversed(gates[:k]) if g is not None]
            for key, gates in up.items()
            for k in range(len(versions))
        }
        #: (version index, endpoint) → the gates a response passes, newest first.
        self._down = {
            (k, key): [g for g in gates[:k] if g is not None]
            for key, gates in down.items()
            for k in range(len(versions))
        }
        self._moved = [_moved_paths(versions.shapes[k]) for k in range(len(versions))]

    def exists(self, index: int, key: EndpointKey) -> bool:
        return self.versions.shapes[index].path_of(key) is not None

    def head_path(self, index: int, method: str, path: str) -> str | None:
        """For a client of version ``index``: the head path of a request to a moved endpoint's
        old path (``path`` is the full path after the API's prefix); None when not moved."""
        for moved_method, pattern, head_template in self._moved[index]:
            if moved_method == method and (match := pattern.fullmatch(path)):
                return head_template.format(**match.groupdict())
        return None

    def request_gates(self, index: int, key: EndpointKey) -> list[Gate]:
        return self._up.get((index, key), [])

    def response_gates(self, index: int, key: EndpointKey) -> list[Gate]:
        return self._down.get((index, key), [])

    @staticmethod
    def apply(gates: list[Gate], body: Any) -> Any:
        for gate in gates:
            body = gate(body)
        return body


def _check_endpoints(versions: ApiVersions, endpoints: dict[EndpointKey, Endpoint]) -> None:
    for index, version in enumerate(versions.versions):
        for change in version.changes:
            named = _endpoint_named(change)
            if named is None:
                continue
            key = _head_key(versions.shapes[index], named)
            if key not in endpoints:
                raise VersionDeclarationError(
                    f"{versions.api} API version {version.date}: {type(change).__name__} names "
                    f"{named[0]} {named[1]}, which is not an endpoint of the API"
                )


def _endpoint_named(change: Change) -> EndpointKey | None:
    """The endpoint a change names, as the version that declares it calls it."""
    if isinstance(change, EndpointAdded | EndpointRemoved):
        return (change.method.upper(), change.path)
    if isinstance(change, EndpointMoved):
        return (change.method.upper(), change.new_path)
    if isinstance(change, RequestConverter | ResponseConverter) and change.endpoint:
        return (change.endpoint[0].upper(), change.endpoint[1])
    return None


def _head_key(shape: Shape, named: EndpointKey) -> EndpointKey:
    for key, path in shape.paths.items():
        if key[0] == named[0] and path == named[1]:
            return key
    return named


# --- one step's gates ----------------------------------------------------------------------


def _response_gate(versions: ApiVersions, endpoint: Endpoint, step: int) -> Gate | None:
    """Head-side version ``step`` → the version before it, for ``endpoint``'s response."""
    changes = versions.versions[step].changes
    shape = versions.shapes[step]  # the body arrives in the newer shape
    converters = [
        c.convert
        for c in changes
        if isinstance(c, ResponseConverter)
        and c.endpoint
        and _head_key(shape, (c.endpoint[0].upper(), c.endpoint[1])) == endpoint.key
    ]
    per_schema = _schema_edits(changes, ResponseConverter, _down)
    return _gate(endpoint.response, shape, converters, per_schema)


def _request_gate(versions: ApiVersions, endpoint: Endpoint, step: int) -> Gate | None:
    """The version before ``step`` → version ``step``, for ``endpoint``'s request."""
    changes = versions.versions[step].changes
    shape = versions.shapes[step + 1]  # the body arrives in the older shape
    converters = [
        c.convert
        for c in changes
        if isinstance(c, RequestConverter)
        and c.endpoint
        and _head_key(versions.shapes[step], (c.endpoint[0].upper(), c.endpoint[1])) == endpoint.key
    ]
    per_schema = _schema_edits(changes, RequestConverter, _up)
    return _gate(endpoint.request, shape, converters, per_schema)


def _gate(
    body_type: Any,
    shape: Shape,
    converters: list[Callable[[Any], Any]],
    per_schema: dict[Schema, Callable[[dict[str, Any]], None]],
) -> Gate | None:
    walk = _walker(body_type, frozenset(per_schema), shape) if per_schema else None
    if walk is None and not converters:
        return None

    def visit(schema: Schema, obj: dict[str, Any]) -> None:
        per_schema[schema](obj)

    def gate(body: Any) -> Any:
        for convert in converters:
            body = convert(body)
        if walk is not None:
            walk(body, visit)
        return body

    return gate


def _schema_edits(
    changes: tuple[Change, ...],
    converter_kind: type[RequestConverter] | type[ResponseConverter],
    edit: Callable[[Any, dict[str, Any]], None],
) -> dict[Schema, Callable[[dict[str, Any]], None]]:
    """Schema → what the step does to one instance: its converters, then its declarations
    (redone in the order declared going up, undone in reverse going down)."""
    schemas: dict[Schema, tuple[list[Callable[[Any], Any]], list[Any]]] = {}
    for change in changes:
        if isinstance(change, converter_kind) and change.schema is not None:
            schemas.setdefault(change.schema, ([], []))[0].append(change.convert)
        elif isinstance(change, FieldAdded | FieldRemoved | FieldRenamed | FieldRetyped):
            schemas.setdefault(change.schema, ([], []))[1].append(change)
    if edit is _down:
        for _, declared in schemas.values():
            declared.reverse()

    def apply_to(convs: list[Callable[[Any], Any]], declared: list[Any]) -> Any:
        def apply(obj: dict[str, Any]) -> None:
            for convert in convs:
                convert(obj)
            for change in declared:
                edit(change, obj)

        return apply

    return {schema: apply_to(*parts) for schema, parts in schemas.items()}


def _down(change: Any, obj: dict[str, Any]) -> None:
    """Undo one declared change on a response object."""
    if isinstance(change, FieldAdded):
        obj.pop(change.field, None)
    elif isinstance(change, FieldRemoved):
        if change.field not in obj:
            obj[change.field] = copy.deepcopy(change.default)
    elif isinstance(change, FieldRenamed):
        if change.new in obj:
            obj[change.old] = obj.pop(change.new)
    elif change.field in obj:
        obj[change.field] = change.to_old(obj[change.field])


def _up(change: Any, obj: dict[str, Any]) -> None:
    """Redo one declared change on a request object."""
    if isinstance(change, FieldAdded):
        if change.default is not MISSING and change.field not in obj:
            obj[change.field] = copy.deepcopy(change.default)
    elif isinstance(change, FieldRemoved):
        obj.pop(change.field, None)
    elif isinstance(change, FieldRenamed):
        if change.old in obj:
            obj[change.new] = obj.pop(change.old)
    elif change.field in obj:
        obj[change.field] = change.to_new(obj[change.field])


# --- walking a body by its type ------------------------------------------------------------


def _walker(body_type: Any, targets: frozenset[Schema], shape: Shape) -> Walk | None:
    """A walk visiting every instance of ``targets`` in a body of ``body_type``, or None when
    none can occur in it."""
    if body_type is None:
        return None
    root = mi.type_info(body_type)
    relevant = _structs_leading_to(root, targets)
    if not relevant:
        return None
    walks: dict[type, Walk] = {}

    def build(info: mi.Type) -> Walk | None:
        if isinstance(info, mi.Metadata):
            return build(info.type)
        if isinstance(info, mi.StructType):
            return struct_walk(info) if info.cls in relevant else None
        if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
            return _each(build(info.item_type))
        if isinstance(info, mi.DictType):
            return _each_value(build(info.value_type))
        if isinstance(info, mi.TupleType):
            return _positions([build(t) for t in info.item_types])
        if isinstance(info, mi.UnionType):
            return _union(info, build)
        return None

    def struct_walk(info: mi.StructType) -> Walk:
        cls = info.cls
        if cls in walks:
            return walks[cls]
        if info.array_like:
            raise VersionDeclarationError(
                f"{cls.__name__} is encoded as an array; versioning needs named fields"
            )
        fields: list[tuple[str, Walk]] = []
        is_target = cls in targets

        def walk(value: Any, visit: Visit) -> None:
            if not isinstance(value, dict):
                return
            for name, inner in fields:
                child = value.get(name)
                if child is not None:
                    inner(child, visit)
            if is_target:
                visit(cls, value)

        walks[cls] = walk  # before the fields: a Struct may contain itself
        retyped = shape.retyped.get(cls, set())
        for f in info.fields:
            name = shape.field_name(cls, f.encode_name)
            if name is None or f.encode_name in retyped:
                continue
            inner = build(f.type)
            if inner is not None:
                fields.append((name, inner))
        return walk

    return build(root)


def _structs_leading_to(root: mi.Type, targets: frozenset[Schema]) -> set[type]:
    """The Struct types in ``root`` that are targets or contain one, however deep."""
    children: dict[type, set[type]] = {}
    seen: set[int] = set()

    def collect(info: mi.Type, owner: type | None) -> None:
        if isinstance(info, mi.StructType):
            if owner is not None:
                children.setdefault(owner, set()).add(info.cls)
            if id(info) in seen:
                return
            seen.add(id(info))
            children.setdefault(info.cls, set())
            for f in info.fields:
                collect(f.type, info.cls)
            return
        for inner in _inner_types(info):
            collect(inner, owner)

    collect(root, None)
    relevant = {cls for cls in children if cls in targets}
    grew = True
    while grew:
        grew = False
        for cls, inner in children.items():
            if cls not in relevant and inner & relevant:
                relevant.add(cls)
                grew = True
    return relevant


def _inner_types(info: mi.Type) -> list[mi.Type]:
    if isinstance(info, mi.Metadata):
        return [info.type]
    if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return [info.item_type]
    if isinstance(info, mi.DictType):
        return [info.value_type]
    if isinstance(info, mi.TupleType):
        return list(info.item_types)
    if isinstance(info, mi.UnionType):
        return list(info.types)
    return []


def _each(inner: Walk | None) -> Walk | None:
    if inner is None:
        return None

    def walk(value: Any, visit: Visit) -> None:
        if isinstance(value, list):
            for item in value:
                inner(item, visit)

    return walk


def _each_value(inner: Walk | None) -> Walk | None:
    if inner is None:
        return None

    def walk(value: Any, visit: Visit) -> None:
        if isinstance(value, dict):
            for item in value.values():
                inner(item, visit)

    return walk


def _positions(inners: list[Walk | None]) -> Walk | None:
    if all(w is None for w in inners):
        return None

    def walk(value: Any, visit: Visit) -> None:
        if isinstance(value, list):
            for item, inner in zip(value, inners, strict=False):
                if inner is not None:
                    inner(item, visit)

    return walk


def _union(info: mi.UnionType, build: Callable[[mi.Type], Walk | None]) -> Walk | None:
    """A union holds at most one kind of JSON object (or tagged Structs) and one kind of array."""
    tagged: dict[Any, Walk] = {}
    tag_field: str | None = None
    obj: Walk | None = None
    array: Walk | None = None
    for member in info.types:
        inner = member.type if isinstance(member, mi.Metadata) else member
        if isinstance(inner, mi.StructType) and inner.tag_field is not None:
            member_walk = build(inner)
            tag_field = inner.tag_field
            if member_walk is not None:
                tagged[inner.tag] = member_walk
        elif isinstance(inner, mi.StructType | mi.DictType):
            obj = build(inner)
        elif isinstance(inner, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
            array = build(inner)
    if not tagged and obj is None and array is None:
        return None

    def walk(value: Any, visit: Visit) -> None:
        if isinstance(value, dict):
            chosen = tagged.get(value.get(tag_field)) if tag_field is not None else obj
            if chosen is not None:
                chosen(value, visit)
        elif isinstance(value, list) and array is not None:
            array(value, visit)

    return walk


# --- moved endpoints -----------------------------------------------------------------------

_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def _moved_paths(shape: Shape) -> list[tuple[str, re.Pattern[str], str]]:
    """(method, pattern of the old path, head path template) for endpoints moved since."""
    moved = []
    for (method, head_path), path in shape.paths.items():
        if path is None or path == head_path:
            continue
        parts = _PARAM.split(path)
        pattern = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
        )
        old_params = set(_PARAM.findall(path))
        if old_params != set(_PARAM.findall(head_path)):
            raise VersionDeclarationError(
                f"endpoint {method} {head_path} moved from {path}: both paths must have the same "
                "parameters"
            )
        moved.append((method, re.compile(pattern), _PARAM.sub(r"{\1}", head_path)))
    return moved
