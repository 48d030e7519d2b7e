"""How the CLI's Web API verbs print what they get: an aligned table for people, JSON for scripts.

Every listing verb takes ``--output table|json`` (:func:`add_output_option`). JSON is the API's
own payload, re-encoded unchanged (``msgspec`` Structs, lists, dicts), so a script sees the same
fields the API documents. A table shows the columns the verb picks, one row per item::

    print_table(page.dags, ["dag_id", "is_paused", "last_run_state"], args.output, payload=page)
    print_record(dag, ["dag_id", "owners", "tags"], args.output)
"""

from __future__ import annotations

import argparse
import datetime as dt
import enum
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import msgspec

OUTPUT_FORMATS = ("table", "json")


def add_output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        "-o",
        choices=OUTPUT_FORMATS,
        default="table",
        help="table for people (default), json for scripts",
    )


def print_json(payload: Any, *, file: TextIO | None = None) -> None:
    out = file or sys.stdout
    out.write(msgspec.json.format(msgspec.json.encode(payload).decode(), indent=2) + "\n")


def print_table(
    rows: Sequence[Any],
    columns: Sequence[str],
    output: str,
    *,
    payload: Any = None,
    file: TextIO | None = None,
) -> None:
    """``rows`` (Structs or mappings) as a table of ``columns``, or ``payload`` (else the rows)
    as JSON."""
    out = file or sys.stdout
    if output == "json":
        print_json(rows if payload is None else payload, file=out)
        return
    cells = [[format_cell(field_of(row, column)) for column in columns] for row in rows]
    headers = [column.upper() for column in columns]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for line in [headers, *cells]:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)).rstrip()
            + "\n"
        )


def print_record(
    record: Any, fields: Sequence[str], output: str, *, file: TextIO | None = None
) -> None:
    """One object as ``field: value`` lines, or as JSON."""
    out = file or sys.stdout
    if output == "json":
        print_json(record, file=out)
        return
    width = max(len(name) for name in fields)
    for name in fields:
        out.write(f"{name.ljust(width)}  {format_cell(field_of(record, name))}".rstrip() + "\n")


def field_of(row: Any, name: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple | set):
        return ", ".join(format_cell(item) for item in value)
    if isinstance(value, dict | msgspec.Struct):
        return msgspec.json.encode(value).decode()
    return str(value)
