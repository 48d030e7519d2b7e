"""The OpenAPI document of an older version, made from head's by undoing each version's changes.

The web framework documents the head handlers; this turns that document (a plain dict, OpenAPI
3.1) into what a client of version ``index`` sees: its field names and types in the component
schemas, only the endpoints it has, at its paths, and ``info.version`` set to its date. Head's own
document goes through here too (``index=0``), which drops endpoints removed at head. A component
that only a newer field or endpoint used is left out too: the client never meets it.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from airlock.models.versioning.api_versions import ApiVersions
from airlock.models.versioning.changes import FieldAdded, FieldRemoved, FieldRenamed, FieldRetyped

HEADER_NAME = "Airlock-API-Version"
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
_REF = "#/components/schemas/{name}"


def versioned_document(
    head_document: dict[str, Any], versions: ApiVersions, index: int, prefix: str
) -> dict[str, Any]:
    """``head_document`` as a client of ``versions.dates[index]`` sees the API under ``prefix``."""
    document = copy.deepcopy(head_document)
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for step in range(index):
        for change in reversed(versions.versions[step].changes):
            if isinstance(change, FieldAdded | FieldRemoved | FieldRenamed | FieldRetyped):
                _undo_field(change, _component(schemas, change.schema), schemas)
    document["paths"] = _paths(document.get("paths", {}), versions, index, prefix)
    for name in _reachable(head_document) - _reachable(document):
        del schemas[name]
    date = versions.dates[index]
    info = document.setdefault("info", {})
    info["version"] = date
    info["description"] = _description(versions, index)
    return document


def _reachable(document: dict[str, Any]) -> set[str]:
    """The component schemas ``document``'s paths use, directly or through other components."""
    schemas = document.get("components", {}).get("schemas", {})
    found: set[str] = set()
    pending: list[Any] = [document.get("paths", {})]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF.format(name="")):
                name = ref.removeprefix(_REF.format(name=""))
                if name not in found and name in schemas:
                    found.add(name)
                    pending.append(schemas[name])
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return found


def _component(schemas: dict[str, Any], schema: type) -> dict[str, Any]:
    name = schema.__name__
    if name in schemas:
        found: dict[str, Any] = schemas[name]
        return found
    for candidate in schemas.values():
        if candidate.get("title") == name:
            return candidate
    raise KeyError(f"the OpenAPI document has no component schema for {name}")


def _undo_field(change: Any, component: dict[str, Any], schemas: dict[str, Any]) -> None:
    properties: dict[str, Any] = component.setdefault("properties", {})
    required: list[str] = component.get("required", [])
    if isinstance(change, FieldAdded):
        properties.pop(change.field, None)
        _set_required(component, [r for r in required if r != change.field])
    elif isinstance(change, FieldRemoved):
        properties[change.field] = _schema_of(change.type, schemas)
    elif isinstance(change, FieldRenamed):
        if change.new in properties:
            properties[change.old] = properties.pop(change.new)
        _set_required(component, sorted(change.old if r == change.new else r for r in required))
    else:
        properties[change.field] = _schema_of(change.old_type, schemas)
    component["properties"] = dict(sorted(properties.items()))


def _set_required(component: dict[str, Any], required: list[str]) -> None:
    if required:
        component["required"] = required
    else:
        component.pop("required", None)


def _schema_of(tp: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    (schema,), components = msgspec.json.schema_components([tp], ref_template=_REF)
    for name, component in components.items():
        schemas.setdefault(name, component)
    return dict(schema)


def _paths(paths: dict[str, Any], versions: ApiVersions, index: int, prefix: str) -> dict[str, Any]:
    shape = versions.shapes[index]
    result: dict[str, dict[str, Any]] = {}
    for path, item in paths.items():
        relative = path[len(prefix) :] if path.startswith(prefix) else path
        shared = {k: v for k, v in item.items() if k not in _METHODS}
        for key, value in item.items():
            if key not in _METHODS:
                continue
            at = shape.path_of((key.upper(), relative))
            if at is not None:
                result.setdefault(prefix + at, dict(shared))[key] = value
    return dict(sorted(result.items()))


def _description(versions: ApiVersions, index: int) -> str:
    date = versions.dates[index]
    lines = [
        f"Version {date} of the Airlock {versions.api} API. Send `{HEADER_NAME}: {date}` with "
        f"every request; every response carries the server's head version in the same header. "
        f"Supported versions: {versions.supported()}.",
        "",
        "What each version changed, newest first:",
    ]
    lines += [f"- {v.date}: {v.summary}" for v in versions.versions]
    return "\n".join(lines)
