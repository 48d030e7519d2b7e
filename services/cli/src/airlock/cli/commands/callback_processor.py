"""``airlock callback-processor``: run the callbacks of the configured bundles, leased through
the Internal API (processing zone: a service token with role ``callback-processor``)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from airlock.cli.errors import CliError
from airlock.cli.leftovers import track_children
from airlock.cli.service_tokens import read_token
from airlock.cli.telemetry import start_telemetry
from airlock.core.settings import load_settings


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "callback-processor",
        help="run DAG and task callbacks in child processes, leased via the Internal API",
    )
    parser.add_argument("--concurrency", type=int, help="callbacks run at once")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from airlock.callback_processor.processor import CallbackProcessor
    from airlock.sdk.api import InternalClient
    from airlock.sdk.execution_time.supervised import default_user, protect_memory

    settings = load_settings().for_zone("processing", "callback processor")
    config = settings.callback_processor
    token = read_token(
        "callback_processor",
        "callback processor",
        config.token,
        config.token_file,
        issue="--kind service --role callback-processor --bundle NAME",
    )
    protect_memory()
    try:
        run_as_user = default_user(config.run_as_user, "[callback_processor] run_as_user")
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not config.bundles:
        raise CliError(
            "the callback processor needs the folders of its bundles: set [callback_processor] "
            "bundles or AIRLOCK_CALLBACK_PROCESSOR__BUNDLES=name=folder"
        )
    for name, folder in config.bundles.items():
        if not Path(folder).is_dir():
            raise CliError(f"bundle {name!r}: folder {folder} does not exist")
    if config.temp_folder and not Path(config.temp_folder).is_dir():
        raise CliError(
            f"[callback_processor] temp_folder: folder {config.temp_folder} does not exist"
        )
    concurrency = args.concurrency if args.concurrency is not None else config.concurrency
    if concurrency < 1:
        raise CliError(f"--concurrency must be at least 1, got {concurrency}")
    logging.basicConfig(
        level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    start_telemetry(settings, "callback-processor")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    track_children(settings)
    processor = CallbackProcessor(
        InternalClient(config.api_url, token),
        {name: Path(folder) for name, folder in config.bundles.items()},
        name=config.name,
        concurrency=concurrency,
        timeout_s=config.timeout_s,
        lease_grace_s=config.lease_grace_s,
        poll_interval_s=config.poll_interval_s,
        child_max_callbacks=config.child_max_callbacks,
        run_as_user=run_as_user,
        child_memory_mb=config.child_memory_mb or None,
        temp_folder=Path(config.temp_folder) if config.temp_folder else None,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        processor.run_forever(stop)
    finally:
        processor.close()
    return 0
