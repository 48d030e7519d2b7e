"""``airlock scheduler``: run the scheduler loop against the metadata DB (control zone only)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from airlock.cli.telemetry import start_telemetry
from airlock.core.settings import load_settings
from airlock.core.telemetry import telemetry_installed


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "scheduler", help="create DAG runs and queue their tasks (control zone: needs the DB)"
    )
    parser.add_argument(
        "--once", action="store_true", help="make one pass, print what it did and exit"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from airlock.db.database import Database
    from airlock.scheduler import Scheduler

    settings = load_settings()
    url = settings.database_url()
    logging.basicConfig(
        level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    start_telemetry(settings, "scheduler")
    database = Database(
        url,
        sqlite_busy_timeout_ms=settings.database.sqlite_busy_timeout_ms,
        pool_size=settings.database.pool_size,
    )
    scheduler = Scheduler.from_settings(settings, database.sessions)
    if telemetry_installed():
        from airlock.scheduler.metrics import observe_the_database

        observe_the_database(database.sessions)
    try:
        if args.once:
            print(scheduler.run_once())
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        scheduler.run_forever(stop)
        return 0
    finally:
        database.close()
