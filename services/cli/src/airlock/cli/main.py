"""The ``airlock`` command: one entry point, one subcommand per job.

Subcommands live in ``airlock.cli.commands``; each module registers its parser and imports the
heavy parts (Litestar apps, SQLAlchemy) only when it runs, so ``airlock --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from airlock.cli.errors import CliError
from airlock.core.settings import SettingsError
from airlock.sdk.execution_time.supervised import protect_memory

#: The modules of ``airlock.cli.commands``, in the order ``airlock --help`` lists them.
COMMANDS = (
    "api",
    "dag_processor",
    "callback_processor",
    "dags",
    "runs",
    "callbacks",
    "assets",
    "receivers",
    "config_values",
    "db",
    "keys",
    "scheduler",
    "tokens",
    "users",
    "worker",
    "triggerer",
    "run_all",
    "migrate_from_airflow",
)
#: The long-running services (``run-all`` starts each as its own process): such a process
#: imports only its own command's module, not every command's (~3 MB of memory less each).
SERVICES = {
    "api": "api",
    "scheduler": "scheduler",
    "dag-processor": "dag_processor",
    "triggerer": "triggerer",
    "callback-processor": "callback_processor",
    "worker": "worker",
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airlock",
        description="Airlock: a workflow orchestrator whose user code never holds DB credentials.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    service = SERVICES.get(argv[0]) if argv else None
    for name in (service,) if service else COMMANDS:
        importlib.import_module(f"airlock.cli.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Every airlock process holds a credential (a key, a token, a DB URL): non-dumpable, its
    # /proc/<pid>/{environ,mem,fd} are refused to other processes of its user (user code).
    protect_memory()
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    try:
        return int(args.func(args) or 0)
    except (CliError, SettingsError) as exc:
        print(f"airlock: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Imported here: the HTTP client is not loaded by verbs that never call an API.
        from airlock.sdk.api import ApiUnreachable

        if isinstance(exc, ApiUnreachable):
            print(f"airlock: error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
