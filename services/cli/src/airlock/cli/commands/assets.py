"""``airlock assets list``: the assets the Web API knows, with how many DAGs consume and produce
each. ``airlock assets events``: the newest asset events, where each came from (a task, the API,
a receiver, a watcher, a run's completion) and the runs it triggered. ``airlock assets watchers
ID``: an asset's watchers and how each is doing."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from airlock.cli.commands.web_calls import web_session
from airlock.cli.output import add_output_option, print_table

ASSET_COLUMNS = ["id", "uri", "name", "group", "consumers", "producers", "last_event_at"]
EVENT_COLUMNS = ["id", "timestamp", "uri", "source", "dedup_key", "runs"]
WATCHER_COLUMNS = [
    "id",
    "dag_id",
    "name",
    "state",
    "lag",
    "events_stored",
    "last_event_at",
    "triggerer",
    "last_error",
]


def register(sub: Any) -> None:
    assets = sub.add_parser("assets", help="list assets through the Web API")
    verbs = assets.add_subparsers(metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="list assets, by URI")
    listing.add_argument("--uri", help="only assets whose URI contains this text")
    listing.add_argument("--name", help="only assets whose name contains this text")
    listing.add_argument("--limit", type=int, default=50, help="page size (default 50)")
    listing.add_argument("--offset", type=int, default=0, help="skip this many assets")
    listing.add_argument("--order-by", default="uri", help="sort key, '-' for descending")
    add_output_option(listing)
    listing.set_defaults(func=run_list)
    watchers = verbs.add_parser("watchers", help="an asset's watchers: state, lag, last error")
    watchers.add_argument("asset_id", type=int, help="the asset's id (airlock assets list)")
    add_output_option(watchers)
    watchers.set_defaults(func=run_watchers)

    events = verbs.add_parser("events", help="the newest asset events: source and runs triggered")
    events.add_argument("--asset", metavar="URI", help="only events of the asset with this URI")
    events.add_argument(
        "--source",
        help="only events of this source (task, api:ann); 'receiver:' for every receiver",
    )
    events.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    add_output_option(events)
    events.set_defaults(func=run_events)


def run_list(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit, "offset": args.offset, "order_by": args.order_by}
    if args.uri:
        params["uri_pattern"] = args.uri
    if args.name:
        params["name_pattern"] = args.name
    with web_session() as session:
        page = session.request("GET", "/api/v1/assets", params=params).json()
    rows = [
        asset
        | {
            "consumers": len(asset["consumers"]),
            "producers": len({p["dag_id"] for p in asset["producers"]}),
        }
        for asset in page["assets"]
    ]
    print_table(rows, ASSET_COLUMNS, args.output, payload=page)
    if args.output == "table" and page["total_entries"] > args.offset + len(page["assets"]):
        shown = args.offset + len(page["assets"])
        print(f"({shown} of {page['total_entries']}; --offset {shown} for more)", file=sys.stderr)
    return 0


def run_events(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit, "order_by": "-id"}
    if args.asset:
        params["uri"] = args.asset
    if args.source:
        params["source"] = args.source
    with web_session() as session:
        page = session.request("GET", "/api/v1/assets/events", params=params).json()
    rows = [
        event | {"runs": [f"{r['dag_id']}/{r['run_id']}" for r in event["created_dagruns"]]}
        for event in page["asset_events"]
    ]
    print_table(rows, EVENT_COLUMNS, args.output, payload=page)
    return 0


def run_watchers(args: argparse.Namespace) -> int:
    with web_session() as session:
        page = session.request("GET", f"/api/v1/assets/{args.asset_id}/watchers").json()
    print_table(page["watchers"], WATCHER_COLUMNS, args.output, payload=page)
    return 0
