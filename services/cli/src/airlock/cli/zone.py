"""``airlock-zone``: the ``airlock`` command's verbs for the execution and processing zones alone
(``worker``, ``dag-processor``, ``triggerer``, ``callback-processor``), the entry point of the slim
images (ADR 0025).

``airlock.cli.main`` imports every verb, and the control plane's verbs import the signer and the
database layer at start-up; this module imports only the zone verbs, whose imports are the SDK,
the services' own packages and the settings module. The verbs are the same functions, so a
service behaves alike under ``airlock worker`` and ``airlock-zone worker``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

from airlock.cli.commands import callback_processor, dag_processor, triggerer, worker
from airlock.cli.errors import CliError
from airlock.core.settings import SettingsError
from airlock.sdk.execution_time.supervised import protect_memory

#: Each verb, and the service package it runs: a slim image offers the verbs it installed.
ZONE_COMMANDS = {
    worker: "airlock.worker",
    dag_processor: "airlock.dag_processor",
    triggerer: "airlock.triggerer",
    callback_processor: "airlock.callback_processor",
}
#: ``triggerer`` also registers ``triggers list`` (a Web API verb); it has no place here.
_NOT_HERE = {"triggers"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airlock-zone",
        description="Airlock's execution and processing zone services (no DB, no signing key).",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command, package in ZONE_COMMANDS.items():
        if importlib.util.find_spec(package) is not None:
            command.register(sub)
    for name in _NOT_HERE:
        sub._name_parser_map.pop(name, None)  # argparse has no remove_parser
    sub._choices_actions = [a for a in sub._choices_actions if a.dest not in _NOT_HERE]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    protect_memory()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, SettingsError) as exc:
        print(f"airlock-zone: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from airlock.sdk.api import ApiUnreachable

        if isinstance(exc, ApiUnreachable):
            print(f"airlock-zone: error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
