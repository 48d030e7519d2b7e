"""``airlock receivers list|create|rotate|delete``: the webhooks that make asset events (admins).

A secret never travels on the command line (it would land in the shell's history and in
``ps``): ``--secret-stdin`` reads it, otherwise the server generates one and it is printed once.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from airlock.cli.commands.web_calls import call, seg
from airlock.cli.errors import CliError
from airlock.cli.output import add_output_option, print_record, print_table

COLUMNS = ["name", "asset_uri", "signature", "signature_header", "bundle_name", "path"]
FIELDS = [
    "name",
    "asset_uri",
    "signature",
    "signature_header",
    "signature_prefix",
    "tolerance_s",
    "dedup_key",
    "extra",
    "filter",
    "max_body_bytes",
    "bundle_name",
    "path",
    "created_by",
    "created_at",
    "secret_rotated_at",
]


def register(sub: Any) -> None:
    receivers = sub.add_parser("receivers", help="webhooks that make asset events (admins)")
    verbs = receivers.add_subparsers(metavar="VERB", required=True)

    listing = verbs.add_parser("list", help="the receivers you may see")
    add_output_option(listing)
    listing.set_defaults(func=run_list)

    create = verbs.add_parser("create", help="declare a receiver: NAME and the asset it updates")
    create.add_argument("name")
    create.add_argument("--asset", required=True, metavar="URI", help="the asset its events update")
    create.add_argument(
        "--signature",
        choices=["hmac-sha256", "timestamped-hmac-sha256", "bearer"],
        default="hmac-sha256",
        help="how a delivery proves its sender (default hmac-sha256)",
    )
    create.add_argument("--header", help="header carrying the signature (per scheme default)")
    create.add_argument("--prefix", help="prefix before the signature, e.g. 'sha256='")
    create.add_argument("--tolerance", type=int, help="replay window in seconds (default 300)")
    create.add_argument("--dedup-key", help='JMESPath for the dedup key, e.g. headers."x-id"')
    create.add_argument("--extra", help="JMESPath for the event's extra, e.g. {ref: body.ref}")
    create.add_argument("--filter", help="JMESPath; a delivery where it is false makes no event")
    create.add_argument("--max-body-bytes", type=int, help="largest body (default 262144)")
    create.add_argument("--bundle", help="the team bundle it belongs to")
    create.add_argument("--description")
    create.add_argument(
        "--secret-stdin", action="store_true", help="read the shared secret from stdin"
    )
    add_output_option(create)
    create.set_defaults(func=run_create)

    rotate = verbs.add_parser("rotate", help="give NAME a new secret (the old one stops at once)")
    rotate.add_argument("name")
    rotate.add_argument("--secret-stdin", action="store_true", help="read it from stdin")
    add_output_option(rotate)
    rotate.set_defaults(func=run_rotate)

    remove = verbs.add_parser("delete", help="delete a receiver")
    remove.add_argument("name")
    remove.set_defaults(func=run_delete)


def _secret_from_stdin() -> str:
    secret = sys.stdin.read().strip()
    if not secret:
        raise CliError("--secret-stdin read nothing; pipe the secret in")
    return secret


def _show(view: dict[str, Any], output: str) -> None:
    print_record(view, FIELDS, output)
    secret = view.get("generated_secret")
    if secret and output == "table":
        print(f"secret (shown once; give it to the sender): {secret}")


def run_list(args: argparse.Namespace) -> int:
    page = call("GET", "/receivers", params={"limit": 1000})
    print_table(page["receivers"], COLUMNS, args.output, payload=page)
    return 0


def run_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name, "asset_uri": args.asset, "signature": args.signature}
    options = {
        "signature_header": args.header,
        "signature_prefix": args.prefix,
        "tolerance_s": args.tolerance,
        "dedup_key": args.dedup_key,
        "extra": args.extra,
        "filter": args.filter,
        "max_body_bytes": args.max_body_bytes,
        "bundle_name": args.bundle,
        "description": args.description,
    }
    body |= {key: value for key, value in options.items() if value is not None}
    if args.secret_stdin:
        body["secret"] = _secret_from_stdin()
    _show(call("POST", "/receivers", body=body), args.output)
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    body: dict[str, Any] = (
        {"secret": _secret_from_stdin()} if args.secret_stdin else {"generate_secret": True}
    )
    _show(call("PATCH", f"/receivers/{seg(args.name)}", body=body), args.output)
    return 0


def run_delete(args: argparse.Namespace) -> int:
    call("DELETE", f"/receivers/{seg(args.name)}")
    print(f"receiver {args.name} deleted")
    return 0
