"""``airlock dag-processor``: parse a bundle and upload its DAGs through the Internal API."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from airlock.cli.errors import CliError
from airlock.cli.leftovers import track_children
from airlock.cli.service_tokens import read_token
from airlock.cli.telemetry import start_telemetry
from airlock.core.settings import load_settings


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "dag-processor", help="parse a bundle's DAG files and upload them via the Internal API"
    )
    parser.add_argument("--bundle", required=True, help="bundle name from [dag_processor] bundles")
    parser.add_argument(
        "--once", action="store_true", help="make one pass, print a summary and exit"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from airlock.dag_processor.bundle import LocalBundle
    from airlock.dag_processor.processor import DagProcessor
    from airlock.sdk.api import ApiError, InternalClient
    from airlock.sdk.execution_time.supervised import default_user

    settings = load_settings().for_zone("processing", "DAG processor")
    config = settings.dag_processor
    if args.bundle not in config.bundles:
        known = ", ".join(sorted(config.bundles)) or "none"
        raise CliError(
            f"bundle {args.bundle!r} is not configured in [dag_processor] bundles (configured: {known})"
        )
    token = read_token(
        "dag_processor",
        "DAG processor",
        config.token,
        config.token_file,
        issue="--kind service --role dag-processor --bundle NAME",
    )
    try:
        run_as_user = default_user(config.run_as_user, "[dag_processor] run_as_user")
    except ValueError as exc:
        raise CliError(str(exc)) from None
    logging.basicConfig(
        level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    start_telemetry(settings, "dag-processor")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    bundle = LocalBundle(args.bundle, config.bundles[args.bundle])
    if not bundle.root.is_dir():
        raise CliError(f"bundle {args.bundle!r}: folder {bundle.root} does not exist")
    track_children(settings)
    processor = DagProcessor(
        bundle,
        InternalClient(config.api_url, token),
        parsers=config.parsers,
        file_timeout_s=config.file_timeout_s,
        parser_max_files=config.parser_max_files,
        batch_max_files=config.batch_max_files,
        batch_max_bytes=config.batch_max_bytes,
        run_as_user=run_as_user,
        parser_memory_mb=config.parser_memory_mb or None,
    )
    try:
        if args.once:
            report = processor.run_pass()
            print(f"bundle {args.bundle}: {report.summary()}")
            for path in report.import_errors:
                print(f"  import error: {path}")
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        processor.run_forever(config.interval_s, stop)
        return 0
    except ApiError as exc:
        raise CliError(f"the Internal API refused the DAG processor: {exc}") from None
    finally:
        processor.close()
