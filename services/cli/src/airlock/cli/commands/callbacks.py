"""``airlock callbacks list|retry|counters``: see callbacks and their outcomes, and retry
dead-lettered ones, through the Web API."""

from __future__ import annotations

import argparse
from typing import Any

from airlock.cli.commands.web_calls import call, seg
from airlock.cli.errors import CliError
from airlock.cli.output import add_output_option, print_record, print_table

COLUMNS = ["id", "kind", "state", "dag_id", "run_id", "task_id", "attempts", "last_error"]
STATES = ("queued", "running", "retrying", "success", "dead")


def register(sub: Any) -> None:
    callbacks = sub.add_parser("callbacks", help="list callbacks and retry dead-lettered ones")
    verbs = callbacks.add_subparsers(metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="callbacks, newest first (--state dead: dead letters)")
    listing.add_argument("--state", action="append", choices=STATES, help="repeatable")
    listing.add_argument("--dag", help="only this DAG's callbacks")
    listing.add_argument("--run", help="only this run's callbacks (needs --dag)")
    listing.add_argument("--task", help="only this task's callbacks (needs --run)")
    listing.add_argument("--limit", type=int, default=50, help="page size (default 50)")
    add_output_option(listing)
    listing.set_defaults(func=run_list)
    retry = verbs.add_parser("retry", help="give dead-lettered callbacks another round")
    retry.add_argument("ids", nargs="+", type=int, metavar="ID")
    add_output_option(retry)
    retry.set_defaults(func=run_retry)
    counters = verbs.add_parser("counters", help="callbacks per state and dispatch latency")
    add_output_option(counters)
    counters.set_defaults(func=run_counters)


def run_list(args: argparse.Namespace) -> int:
    if args.run:
        if not args.dag:
            raise CliError("--run needs --dag: a run id is only unique within its DAG")
        params: dict[str, Any] = {}
        if args.task:
            params["task_id"] = args.task
        page = call(
            "GET", f"/dags/{seg(args.dag)}/dagRuns/{seg(args.run)}/callbacks", params=params
        )
        if args.state:
            page["callbacks"] = [c for c in page["callbacks"] if c["state"] in args.state]
    else:
        params = {"limit": args.limit}
        if args.state:
            params["state"] = args.state
        if args.dag:
            params["dag_id"] = args.dag
        page = call("GET", "/callbacks", params=params)
    rows = [{**c, "last_error": _last_line(c.get("last_error"))} for c in page["callbacks"]]
    print_table(rows, COLUMNS, args.output, payload=page["callbacks"])
    return 0


def run_retry(args: argparse.Namespace) -> int:
    retried = [call("POST", f"/callbacks/{callback_id}/retry") for callback_id in args.ids]
    print_table(retried, COLUMNS, args.output)
    return 0


def run_counters(args: argparse.Namespace) -> int:
    counters = call("GET", "/callbacks/counters")
    print_record(counters, list(counters), args.output)
    return 0


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1][:80] if lines else ""
