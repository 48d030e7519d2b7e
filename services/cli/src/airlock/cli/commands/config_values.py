"""``airlock variables set/get`` and ``airlock connections add``: configuration tasks read at run
time, written through the Web API (admin role). Secrets go in over TLS and are never printed back:
the API masks them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from airlock.cli.commands.web_calls import call, seg
from airlock.cli.errors import CliError
from airlock.cli.output import add_output_option, print_record

VARIABLE_FIELDS = ["key", "value", "description", "bundle_name"]
CONNECTION_FIELDS = [
    "connection_id",
    "conn_type",
    "host",
    "port",
    "schema",
    "login",
    "password",
    "extra",
    "bundle_name",
]


def register(sub: Any) -> None:
    variables = sub.add_parser("variables", help="set and get variables through the Web API")
    verbs = variables.add_subparsers(metavar="VERB", required=True)
    setter = verbs.add_parser("set", help="create or replace a variable (admin)")
    setter.add_argument("key")
    setter.add_argument("value", nargs="?", help="the value (or --value-stdin)")
    setter.add_argument("--value-stdin", action="store_true", help="read the value from stdin")
    setter.add_argument("--description")
    setter.add_argument("--bundle", help="only this bundle's tasks may read it")
    add_output_option(setter)
    setter.set_defaults(func=run_variable_set)
    getter = verbs.add_parser("get", help="print a variable's value")
    getter.add_argument("key")
    add_output_option(getter)
    getter.set_defaults(func=run_variable_get)

    connections = sub.add_parser("connections", help="add connections through the Web API")
    conn_verbs = connections.add_subparsers(metavar="VERB", required=True)
    add = conn_verbs.add_parser("add", help="add a connection (admin)")
    add.add_argument("connection_id")
    add.add_argument("--conn-type", required=True, help="postgres, http, aws …")
    add.add_argument("--host")
    add.add_argument("--port", type=int)
    add.add_argument("--schema")
    add.add_argument("--login")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--extra", help="a JSON object of extra settings")
    add.add_argument("--description")
    add.add_argument("--bundle", help="only this bundle's tasks may read it")
    add_output_option(add)
    add.set_defaults(func=run_connection_add)


def run_variable_set(args: argparse.Namespace) -> int:
    if args.value_stdin == (args.value is not None):
        raise CliError("give the value either as an argument or with --value-stdin, not both")
    value = sys.stdin.read().rstrip("\n") if args.value_stdin else args.value
    body = {"key": args.key, "value": value, "description": args.description}
    if args.bundle:
        body["bundle_name"] = args.bundle
    shown = call("POST", "/variables", body=body, params={"overwrite": "true"})
    print_record(shown, VARIABLE_FIELDS, args.output)
    return 0


def run_variable_get(args: argparse.Namespace) -> int:
    shown = call("GET", f"/variables/{seg(args.key)}")
    if args.output == "json":
        print_record(shown, VARIABLE_FIELDS, "json")
    else:
        print(shown["value"])
    return 0


def run_connection_add(args: argparse.Namespace) -> int:
    if args.extra is not None:
        try:
            json.loads(args.extra)
        except json.JSONDecodeError as exc:
            raise CliError(f"--extra is not valid JSON: {exc}") from None
    body: dict[str, Any] = {"connection_id": args.connection_id, "conn_type": args.conn_type}
    for name in ("host", "port", "schema", "login", "extra", "description"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.bundle:
        body["bundle_name"] = args.bundle
    if args.password_stdin:
        body["password"] = sys.stdin.readline().rstrip("\n")
    shown = call("POST", "/connections", body=body)
    print_record(shown, CONNECTION_FIELDS, args.output)
    return 0
