"""``airlock db``: migrate the metadata database (control zone only)."""

from __future__ import annotations

import argparse
from typing import Any

from airlock.core.settings import load_settings


def register(sub: Any) -> None:
    parser = sub.add_parser("db", help="migrate or inspect the metadata database")
    verbs = parser.add_subparsers(metavar="VERB", required=True)
    verbs.add_parser(
        "migrate", help="upgrade the database schema to the newest revision"
    ).set_defaults(func=migrate)
    verbs.add_parser("current", help="print the database's current schema revision").set_defaults(
        func=current
    )
    down = verbs.add_parser("downgrade", help="downgrade the schema to REVISION (e.g. base)")
    down.add_argument("revision")
    down.set_defaults(func=downgrade)


def migrate(args: argparse.Namespace) -> int:
    from airlock.db import migrate as migrations

    url = load_settings().database_url()
    migrations.upgrade(url)
    print(f"database at {_redact(url)} is at revision {migrations.current(url)}")
    return 0


def current(args: argparse.Namespace) -> int:
    from airlock.db import migrate as migrations

    print(migrations.current(load_settings().database_url()) or "empty (run `airlock db migrate`)")
    return 0


def downgrade(args: argparse.Namespace) -> int:
    from airlock.db import migrate as migrations

    url = load_settings().database_url()
    migrations.downgrade(url, args.revision)
    print(f"database at {_redact(url)} is at revision {migrations.current(url) or 'base'}")
    return 0


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
