"""``airlock runs list``, ``airlock tasks show`` and ``airlock tasks logs``: read runs, a task's
tries (with why the control plane ended one, when it did) and task logs through the Web API."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from airlock.cli.commands.web_calls import seg, web_session
from airlock.cli.output import add_output_option, print_table

RUN_COLUMNS = ["dag_id", "run_id", "state", "run_type", "dag_version_number", "start_date"]
TRY_COLUMNS = ["try_number", "state", "start_date", "end_date", "hostname", "state_reason"]


def register(sub: Any) -> None:
    runs = sub.add_parser("runs", help="list DAG runs through the Web API")
    verbs = runs.add_subparsers(metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="list runs, newest first")
    listing.add_argument("--dag", help="only this DAG's runs (default: every DAG you may see)")
    listing.add_argument("--state", action="append", help="only runs in this state (repeatable)")
    listing.add_argument("--limit", type=int, default=50, help="page size (default 50)")
    listing.add_argument("--offset", type=int, default=0, help="skip this many runs")
    listing.add_argument("--order-by", default="-run_after", help="sort key, '-' for descending")
    add_output_option(listing)
    listing.set_defaults(func=run_list)

    tasks = sub.add_parser("tasks", help="read task logs through the Web API")
    task_verbs = tasks.add_subparsers(metavar="VERB", required=True)
    show = task_verbs.add_parser(
        "show", help="a task's tries: state, times, host and why the control plane ended one"
    )
    show.add_argument("dag_id")
    show.add_argument("run_id")
    show.add_argument("task_id")
    show.add_argument("--map-index", type=int, default=-1, help="map index of a mapped task")
    add_output_option(show)
    show.set_defaults(func=run_show)
    logs = task_verbs.add_parser("logs", help="print the log of one try of a task")
    logs.add_argument("dag_id")
    logs.add_argument("run_id")
    logs.add_argument("task_id")
    logs.add_argument("--try", dest="try_number", type=int, help="try number (default: latest)")
    logs.add_argument("--map-index", type=int, default=-1, help="map index of a mapped task")
    logs.add_argument(
        "--follow", "-f", action="store_true", help="keep printing until the try has ended"
    )
    logs.add_argument("--poll", type=float, default=1.0, help="seconds between polls (--follow)")
    logs.set_defaults(func=run_logs)


def run_list(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit, "offset": args.offset, "order_by": args.order_by}
    if args.state:
        params["state"] = args.state
    with web_session() as session:
        dag = seg(args.dag) if args.dag else "~"
        page = session.request("GET", f"/api/v1/dags/{dag}/dagRuns", params=params).json()
    print_table(page["dag_runs"], RUN_COLUMNS, args.output, payload=page)
    if args.output == "table" and page["total_entries"] > args.offset + len(page["dag_runs"]):
        shown = args.offset + len(page["dag_runs"])
        print(f"({shown} of {page['total_entries']}; --offset {shown} for more)", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace) -> int:
    path = (
        f"/api/v1/dags/{seg(args.dag_id)}/dagRuns/{seg(args.run_id)}/taskInstances/"
        f"{seg(args.task_id)}"
    )
    with web_session() as session:
        detail = session.request("GET", path, params={"map_index": args.map_index}).json()
    ti = detail["task_instance"]
    if args.output == "table":
        reason = f" ({ti['state_reason']})" if ti.get("state_reason") else ""
        print(f"{ti['task_id']}: {ti['state'] or 'no state'}{reason}")
    print_table(detail["tries"], TRY_COLUMNS, args.output, payload=detail)
    return 0


def run_logs(args: argparse.Namespace) -> int:
    base = f"/api/v1/dags/{seg(args.dag_id)}/dagRuns/{seg(args.run_id)}/taskInstances"
    with web_session() as session:
        try_number = args.try_number
        if try_number is None:
            detail = session.request(
                "GET", f"{base}/{seg(args.task_id)}", params={"map_index": args.map_index}
            ).json()
            try_number = max(detail["task_instance"]["try_number"], 1)
        cursor = 0
        while True:
            page = session.request(
                "GET",
                f"{base}/{seg(args.task_id)}/logs/{try_number}",
                params={"map_index": args.map_index, "cursor": cursor},
            ).json()
            for line in page["lines"]:
                print(line, flush=True)
            cursor = page["next_cursor"]
            if page["complete"] or (not args.follow and not page["lines"]):
                return 0
            if not page["lines"]:
                time.sleep(args.poll)
