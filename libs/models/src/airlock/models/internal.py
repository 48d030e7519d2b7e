"""Payloads of the Internal API (DAG processor, triggerer, callback processor)."""

from __future__ import annotations

import datetime as dt

import msgspec


class BundleFileInfo(msgspec.Struct, kw_only=True, frozen=True):
    """What the server holds for one file of a bundle."""

    relative_path: str
    content_hash: str
    last_parsed_at: dt.datetime
    dag_ids: list[str] = msgspec.field(default_factory=list)


class BundleFilesPage(msgspec.Struct, kw_only=True, frozen=True):
    """One page of a bundle's files, ordered by path; pass ``next_after`` to get the next."""

    bundle: str
    files: list[BundleFileInfo]
    next_after: str | None = None
