"""A small JSON-schema checker for ``Param``: the keywords Airflow users put in params.

Supported: ``type`` (one or a list), ``enum``, ``const``, ``minimum`` / ``maximum`` /
``exclusiveMinimum`` / ``exclusiveMaximum`` / ``multipleOf``, ``minLength`` / ``maxLength`` /
``pattern`` / ``format`` (``date``, ``date-time``, ``time``, ``email``), ``items`` /
``minItems`` / ``maxItems`` / ``uniqueItems``, ``properties`` / ``required`` /
``additionalProperties``, and ``anyOf`` / ``oneOf`` / ``allOf``. Other keywords (``title``,
``examples``, ``values_display`` …) are documentation and are not checked.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any

_TYPE_CHECKS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list | tuple),
    "object": lambda v: isinstance(v, dict),
}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _format_ok(fmt: str, value: str) -> bool:
    try:
        if fmt == "date":
            date.fromisoformat(value)
        elif fmt == "date-time":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return "T" in value or " " in value
        elif fmt == "time":
            time.fromisoformat(value)
        elif fmt == "email":
            return bool(_EMAIL.match(value))
    except ValueError:
        return False
    return True


def schema_errors(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Every way ``value`` breaks ``schema``, as readable sentences (empty if it conforms)."""
    where = f" at {path}" if path else ""
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        unknown = [n for n in names if n not in _TYPE_CHECKS]
        if unknown:
            return [f"unknown schema type {unknown[0]!r}; use one of {sorted(_TYPE_CHECKS)}"]
        if not any(_TYPE_CHECKS[n](value) for n in names):
            return [f"{value!r}{where} is not of type {' or '.join(map(repr, names))}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{value!r}{where} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{value!r}{where} is not {schema['const']!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        errors.extend(_number_errors(value, schema, where))
    if isinstance(value, str):
        errors.extend(_string_errors(value, schema, where))
    if isinstance(value, list | tuple):
        errors.extend(_array_errors(list(value), schema, path))
    if isinstance(value, dict):
        errors.extend(_object_errors(value, schema, path))
    errors.extend(_combinator_errors(value, schema, path))
    return errors


def _number_errors(value: float, schema: dict[str, Any], where: str) -> list[str]:
    errors = []
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{value!r}{where} is less than the minimum of {schema['minimum']!r}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{value!r}{where} is greater than the maximum of {schema['maximum']!r}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        errors.append(f"{value!r}{where} must be greater than {schema['exclusiveMinimum']!r}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        errors.append(f"{value!r}{where} must be less than {schema['exclusiveMaximum']!r}")
    step = schema.get("multipleOf")
    if step and (value / step) != int(value / step):
        errors.append(f"{value!r}{where} is not a multiple of {step!r}")
    return errors


def _string_errors(value: str, schema: dict[str, Any], where: str) -> list[str]:
    errors = []
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{value!r}{where} is shorter than {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{value!r}{where} is longer than {schema['maxLength']} characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{value!r}{where} does not match the pattern {schema['pattern']!r}")
    fmt = schema.get("format")
    if fmt and not _format_ok(fmt, value):
        errors.append(f"{value!r}{where} is not a valid {fmt!r}")
    return errors


def _array_errors(value: list[Any], schema: dict[str, Any], path: str) -> list[str]:
    errors = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{path or 'the array'} has fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path or 'the array'} has more than {schema['maxItems']} items")
    if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
        errors.append(f"{path or 'the array'} has duplicate items")
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            errors.extend(schema_errors(item, items, f"{path}[{index}]"))
    return errors


def _object_errors(value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    errors = []
    for name in schema.get("required", []):
        if name not in value:
            errors.append(f"{name!r} is a required property of {path or 'the object'}")
    properties = schema.get("properties", {})
    for name, sub in properties.items():
        if name in value:
            errors.extend(schema_errors(value[name], sub, f"{path}.{name}" if path else name))
    if schema.get("additionalProperties") is False:
        extra = sorted(set(value) - set(properties))
        if extra:
            errors.append(f"{path or 'the object'} has unexpected properties {extra!r}")
    return errors


def _combinator_errors(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    errors = []
    for sub in schema.get("allOf", []):
        errors.extend(schema_errors(value, sub, path))
    if "anyOf" in schema and not any(not schema_errors(value, s, path) for s in schema["anyOf"]):
        errors.append(f"{value!r} matches none of the anyOf schemas")
    if "oneOf" in schema:
        matches = sum(1 for s in schema["oneOf"] if not schema_errors(value, s, path))
        if matches != 1:
            errors.append(f"{value!r} matches {matches} of the oneOf schemas, not exactly one")
    return errors
