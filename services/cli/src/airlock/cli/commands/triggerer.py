"""``airlock triggerer``: run the triggers of deferred tasks (processing zone, Internal API only);
``airlock triggers list``: what deferred tasks wait for, through the Web API."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from airlock.cli.errors import CliError
from airlock.cli.leftovers import track_children
from airlock.cli.output import add_output_option, print_table
from airlock.cli.service_tokens import read_token
from airlock.cli.telemetry import start_telemetry
from airlock.core.settings import load_settings


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "triggerer", help="run the triggers of deferred tasks, leased through the Internal API"
    )
    parser.add_argument(
        "--capacity", type=int, help="triggers to run at once (default: [triggerer] capacity)"
    )
    parser.add_argument(
        "--name", help="this triggerer's name (default: [triggerer] name, else host-pid)"
    )
    parser.set_defaults(func=run)
    triggers = sub.add_parser("triggers", help="list the triggers of deferred tasks (Web API)")
    verbs = triggers.add_subparsers(metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="triggers, their task and the triggerer running them")
    add_output_option(listing)
    listing.set_defaults(func=run_list)


TRIGGER_COLUMNS = ["id", "dag_id", "run_id", "task_id", "classpath", "triggerer", "created_at"]


def run_list(args: argparse.Namespace) -> int:
    from airlock.cli.commands.web_calls import web_session

    with web_session() as session:
        page = session.request("GET", "/api/v1/triggers").json()
    print_table(page["triggers"], TRIGGER_COLUMNS, args.output, payload=page)
    return 0


def run(args: argparse.Namespace) -> int:
    from airlock.sdk.api import InternalClient
    from airlock.sdk.execution_time.supervised import default_user, protect_memory
    from airlock.triggerer.triggerer import Triggerer
    from airlock.triggerer.watchers import WatcherHost

    settings = load_settings().for_zone("processing", "triggerer")
    config = settings.triggerer
    token = read_token(
        "triggerer",
        "triggerer",
        config.token,
        config.token_file,
        issue="--kind service --role triggerer --bundle NAME",
    )
    protect_memory()
    try:
        run_as_user = default_user(config.run_as_user, "[triggerer] run_as_user")
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if config.temp_folder and not Path(config.temp_folder).is_dir():
        raise CliError(f"[triggerer] temp_folder: folder {config.temp_folder} does not exist")
    capacity = args.capacity if args.capacity is not None else config.capacity
    if capacity < 1:
        raise CliError(f"--capacity must be at least 1, got {capacity}")
    for name, folder in config.bundles.items():
        if not Path(folder).is_dir():
            raise CliError(
                f"[triggerer] bundles: folder {folder} of bundle {name!r} does not exist"
            )
    logging.basicConfig(
        level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    start_telemetry(settings, "triggerer")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    track_children(settings)
    client = InternalClient(config.api_url, token)
    name = args.name or config.name or f"{socket.gethostname()}-{os.getpid()}"
    triggerer = Triggerer(
        client,
        name=name,
        capacity=capacity,
        bundles=dict(config.bundles),
        poll_s=config.poll_s,
        run_as_user=run_as_user,
        runner_memory_mb=config.runner_memory_mb or None,
        temp_folder=Path(config.temp_folder) if config.temp_folder else None,
        watchers=WatcherHost(
            client, name=name, capacity=config.watcher_capacity, bundles=dict(config.bundles)
        ),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    triggerer.run_forever(stop)
    return 0
