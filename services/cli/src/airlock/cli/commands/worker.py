"""``airlock worker``: run tasks pulled from the Execution API (execution zone, no DB)."""

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
        "worker", help="pull tasks from the Execution API and run them in supervised processes"
    )
    parser.add_argument(
        "--concurrency", type=int, help="tasks run at once (default: [worker] concurrency)"
    )
    parser.add_argument(
        "--queues", help="comma-separated queues to take tasks from (default: [worker] queues)"
    )
    parser.add_argument("--name", help="this worker's name (default: [worker] name, else host-pid)")
    parser.add_argument(
        "--task-memory-mb",
        type=float,
        help="a task process's memory cap in MiB (default: [worker] task_memory_mb)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from airlock.sdk.api import ApiError
    from airlock.sdk.execution_time.supervised import (
        default_user,
        protect_memory,
    )
    from airlock.worker.supervisor import Worker, WorkerRefused

    settings = load_settings().for_zone("execution", "worker")
    config = settings.worker
    token = read_token("worker", "worker", config.token, config.token_file, issue="--kind worker")
    protect_memory()
    concurrency = args.concurrency if args.concurrency is not None else config.concurrency
    if concurrency < 1:
        raise CliError(f"--concurrency must be at least 1, got {concurrency}")
    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None
    for name, folder in config.bundles.items():
        if not Path(folder).expanduser().is_dir():
            raise CliError(f"[worker] bundles: folder {folder} of bundle {name!r} does not exist")
    try:
        run_as_user = default_user(config.run_as_user, "[worker] run_as_user")
    except ValueError as exc:
        raise CliError(str(exc)) from None
    logging.basicConfig(
        level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    start_telemetry(settings, "worker")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    track_children(settings)
    worker = Worker(
        api_url=config.api_url,
        token=token,
        name=args.name or config.name,
        queues=queues or config.queues,
        concurrency=concurrency,
        bundles=config.bundles,
        heartbeat_s=config.heartbeat_s,
        log_batch_s=config.log_batch_s,
        # The flag wins over the [worker] task_memory_mb setting.
        task_memory_limit_mb=args.task_memory_mb or config.task_memory_mb or None,
        run_as_user=run_as_user,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        worker.run(stop)
    except WorkerRefused as exc:
        raise CliError(str(exc)) from None
    except ApiError as exc:
        raise CliError(f"the Execution API refused the worker: {exc}") from None
    return 0
