"""The ``airlock`` command: one entry point, one subcommand per job.

Subcommands live in ``airlock.cli.commands``; each module registers its parser and imports the
heavy parts (Litestar apps, SQLAlchemy) only when it runs, so ``airlock --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airlock.cli.commands import (
    api,
    assets,
    callback_processor,
    callbacks,
    config_values,
    dag_processor,
    dags,
    db,
    keys,
    migrate_from_airflow,
    receivers,
    run_all,
    runs,
    scheduler,
    tokens,
    triggerer,
    users,
    worker,
)
from airlock.cli.errors import CliError
from airlock.core.settings import SettingsError
from airlock.sdk.execution_time.supervised import protect_memory

COMMANDS = (
    api,
    dag_processor,
    callback_processor,
    dags,
    runs,
    callbacks,
    assets,
    receivers,
    config_values,
    db,
    keys,
    scheduler,
    tokens,
    users,
    worker,
    triggerer,
    run_all,
    migrate_from_airflow,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airlock",
        description="Airlock: a workflow orchestrator whose user code never holds DB credentials.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Every airlock process holds a credential (a key, a token, a DB URL): non-dumpable, its
    # /proc/<pid>/{environ,mem,fd} are refused to other processes of its user (user code).
    protect_memory()
    parser = build_parser()
    args = parser.parse_args(argv)
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
