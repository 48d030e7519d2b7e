"""``airlock users create``: people who log in to the Web API (control zone only)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from airlock.cli.errors import CliError
from airlock.core.settings import load_settings
from airlock.core.tokens import UserRole


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "users", help="create users who log in to the Web API (manage them via /api/v1/users)"
    )
    verbs = parser.add_subparsers(metavar="VERB", required=True)
    create = verbs.add_parser("create", help="create a user with a role")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=[r.value for r in UserRole])
    create.add_argument(
        "--bundle",
        "--bundles",
        action="append",
        dest="bundles",
        type=_bundle_list,
        metavar="A,B",
        help="limit the user to these bundles (comma-separated or repeated; default all)",
    )
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (default: prompt)",
    )
    create.set_defaults(func=create_user)


def _bundle_list(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no bundle name in {value!r}")
    return names


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for a password: pass --password-stdin")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise CliError("the two passwords differ")
    return first


def create_user(args: argparse.Namespace) -> int:
    from airlock.cli.users import add_user

    settings = load_settings()
    password = read_password(args.password_stdin)
    bundles = sorted({name for names in args.bundles for name in names}) if args.bundles else None
    add_user(settings.database_url(), args.username, password, args.role, bundles)
    scope = f" limited to bundles {', '.join(bundles)}" if bundles else ""
    print(f"created user {args.username} with role {args.role}{scope}")
    return 0
