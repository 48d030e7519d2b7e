"""``airlock login`` and ``airlock dags trigger|list|show|pause|unpause|list-import-errors``:
everyday verbs over the Web API; and ``airlock dags test``, which needs no services at all."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from airlock.cli.errors import CliError
from airlock.cli.output import add_output_option, print_record, print_table
from airlock.core.settings import Settings, load_settings

TERMINAL_RUN_STATES = {"success", "failed"}


def register(sub: Any) -> None:
    login = sub.add_parser(
        "login", help="log in to the Web API and keep the token for later commands"
    )
    login.add_argument("--username", "-u", required=True)
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.set_defaults(func=run_login)
    password = sub.add_parser(
        "password",
        help="change your own password (ends every token you held; keeps the new login token)",
    )
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the current password, then the new one, as two lines of stdin",
    )
    password.set_defaults(func=run_password)

    dags = sub.add_parser("dags", help="list, show, pause and trigger DAGs through the Web API")
    verbs = dags.add_subparsers(metavar="VERB", required=True)
    trigger = verbs.add_parser("trigger", help="start a run of DAG_ID")
    trigger.add_argument("dag_id")
    trigger.add_argument("--conf", default="{}", help="JSON object passed to the run as its conf")
    trigger.add_argument("--run-id", help="run id (default: manual__<time>)")
    trigger.add_argument(
        "--wait", action="store_true", help="follow the run; exit 0 on success, 1 on failure"
    )
    trigger.add_argument(
        "--timeout", type=float, default=3600.0, help="give up waiting after this many seconds"
    )
    trigger.set_defaults(func=run_trigger)

    listing = verbs.add_parser("list", help="list DAGs with their last run and next run")
    listing.add_argument("--search", help="substring of the DAG id or display name")
    listing.add_argument("--tag", action="append", dest="tags", help="has this tag (repeat)")
    listing.add_argument("--owner", action="append", dest="owners", help="owned by (repeat)")
    listing.add_argument("--bundle", action="append", dest="bundles", help="in bundle (repeat)")
    paused = listing.add_mutually_exclusive_group()
    paused.add_argument("--paused", action="store_true", default=None, help="only paused DAGs")
    paused.add_argument(
        "--active", dest="paused", action="store_false", help="only DAGs that are not paused"
    )
    listing.add_argument("--stale", action="store_true", help="only DAGs gone from their bundle")
    listing.add_argument(
        "--import-errors", action="store_true", help="only DAGs whose file fails to import"
    )
    listing.add_argument("--order-by", help="sort key, '-' for descending (default dag_id)")
    listing.add_argument("--limit", type=int, default=100, help="page size (default 100)")
    listing.add_argument("--offset", type=int, default=0, help="skip this many DAGs")
    add_output_option(listing)
    listing.set_defaults(func=run_list, paused=None)

    show = verbs.add_parser("show", help="show one DAG: schedule, versions, last run")
    show.add_argument("dag_id")
    add_output_option(show)
    show.set_defaults(func=run_show)

    for verb, paused_value in (("pause", True), ("unpause", False)):
        toggle = verbs.add_parser(verb, help=f"{verb} DAG_ID (needs the op role)")
        toggle.add_argument("dag_id")
        if not paused_value:
            backlog = toggle.add_mutually_exclusive_group()
            backlog.add_argument(
                "--run-backlog",
                dest="asset_backlog",
                action="store_const",
                const="run",
                help="run the asset events that waited through the pause",
            )
            backlog.add_argument(
                "--skip-backlog",
                dest="asset_backlog",
                action="store_const",
                const="skip",
                help="drop them (default: the DAG's on_unpause)",
            )
        toggle.set_defaults(func=run_set_paused, is_paused=paused_value, asset_backlog=None)

    errors = verbs.add_parser(
        "list-import-errors", help="files that failed to import, by file, with the traceback"
    )
    errors.add_argument("--bundle", action="append", dest="bundles", help="in bundle (repeat)")
    errors.add_argument("--file", dest="filename", help="substring of the file's path")
    errors.add_argument("--limit", type=int, default=100, help="page size (default 100)")
    add_output_option(errors)
    errors.set_defaults(func=run_list_import_errors)

    test = verbs.add_parser(
        "test",
        help="run DAG_ID once in this process, with no services (dag.test()); exit 1 if it fails",
    )
    test.add_argument("dag_id")
    test.add_argument("--conf", default="{}", help="JSON object passed to the run as its conf")
    test.add_argument("--logical-date", help="ISO 8601 logical date (default: now)")
    where = test.add_mutually_exclusive_group()
    where.add_argument("--file", help="the DAG file (default: search the bundle folders)")
    where.add_argument(
        "--folder",
        action="append",
        dest="folders",
        help="a folder of DAG files to search (repeat; default: [dag_processor] bundles, "
        "else deploy/dags)",
    )
    test.set_defaults(func=run_test)


def token_path(settings: Settings) -> Path:
    return settings.home_path / "cli-token"


def run_login(args: argparse.Namespace) -> int:
    from airlock.sdk.api import ApiError, login

    settings = load_settings()
    password = (
        sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    )
    try:
        token = login(settings.client.api_url, args.username, password)
    except ApiError as exc:
        raise CliError(f"login failed: {exc.detail}") from None
    save_token(settings, token)
    print(f"logged in as {args.username}; token saved in {token_path(settings)}")
    return 0


def run_password(args: argparse.Namespace) -> int:
    from airlock.cli.commands.web_calls import web_session
    from airlock.models.web_users import PasswordChange

    settings = load_settings()
    if args.password_stdin:
        current = sys.stdin.readline().rstrip("\n")
        new = sys.stdin.readline().rstrip("\n")
    else:
        current = getpass.getpass("current password: ")
        new = getpass.getpass("new password: ")
        if new != getpass.getpass("new password again: "):
            raise CliError("the two new passwords differ")
    body = PasswordChange(current_password=current, new_password=new)
    with web_session() as session:
        answer = session.request("POST", "/api/v1/auth/password", body=body).json()
    save_token(settings, answer["access_token"])
    print(
        "password changed; every token you held before no longer works "
        f"(the new login token is saved in {token_path(settings)})"
    )
    return 0


def save_token(settings: Settings, token: str) -> None:
    path = token_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)


def client_token(settings: Settings) -> str:
    if settings.client.token:
        return settings.client.token
    path = Path(settings.client.token_file) if settings.client.token_file else token_path(settings)
    try:
        return path.read_text().strip()
    except OSError:
        raise CliError(
            "not logged in: run `airlock login -u USER` (or set AIRLOCK_CLIENT__TOKEN)"
        ) from None


def run_trigger(args: argparse.Namespace) -> int:
    from airlock.models.web import DagRunCreate
    from airlock.sdk.api import ApiError, WebClient

    try:
        conf = json.loads(args.conf)
    except json.JSONDecodeError as exc:
        raise CliError(f"--conf is not valid JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise CliError("--conf must be a JSON object, like '{\"key\": 1}'")
    settings = load_settings()
    client = WebClient(settings.client.api_url, client_token(settings))
    try:
        started = time.monotonic()
        run = client.trigger(args.dag_id, DagRunCreate(run_id=args.run_id, conf=conf))
        print(
            f"triggered {run.dag_id} run {run.run_id} (DAG version {run.dag_version_number})",
            flush=True,
        )
        if not args.wait:
            return 0
        return _follow(client, run.dag_id, run.run_id, started, args.timeout)
    except ApiError as exc:
        raise CliError(exc.detail if exc.status < 500 else str(exc)) from None
    finally:
        client.close()


def _follow(client: Any, dag_id: str, run_id: str, started: float, timeout_s: float) -> int:
    interactive = sys.stdout.isatty()
    last = ""
    delay = 0.02
    while True:
        listing = client.task_instances(dag_id, run_id)
        counts = Counter(str(ti.state) if ti.state else "none" for ti in listing.task_instances)
        done = counts["success"] + counts["skipped"]
        failed = counts["failed"] + counts["upstream_failed"]
        running = counts["running"] + counts["queued"]
        total = len(listing.task_instances)
        line = f"{done} done, {running} running, {failed} failed of {total} tasks"
        if line != last:
            print(
                ("\r" + line + "   ") if interactive else line,
                end="" if interactive else "\n",
                flush=True,
            )
            last = line
        if str(listing.run_state) in TERMINAL_RUN_STATES:
            elapsed = time.monotonic() - started
            if interactive:
                print()
            print(f"run {run_id}: {listing.run_state} in {elapsed:.2f} s")
            for ti in listing.task_instances:
                if str(ti.state) in ("failed", "upstream_failed"):
                    print(
                        f"  {ti.task_id}{'' if ti.map_index < 0 else f'[{ti.map_index}]'}: {ti.state}"
                    )
            return 0 if str(listing.run_state) == "success" else 1
        if time.monotonic() - started > timeout_s:
            raise CliError(f"run {run_id} still {listing.run_state} after {timeout_s:g} s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


DAG_COLUMNS = [
    "dag_id",
    "bundle_name",
    "is_paused",
    "timetable_summary",
    "last_run_state",
    "last_run_after",
    "next_dagrun_run_after",
    "tags",
]
DAG_FIELDS = [
    "dag_id",
    "dag_display_name",
    "bundle_name",
    "relative_fileloc",
    "description",
    "owners",
    "tags",
    "schedule",
    "timetable_summary",
    "timezone",
    "is_paused",
    "is_stale",
    "has_import_errors",
    "catchup",
    "max_active_runs",
    "max_active_tasks",
    "task_count",
    "latest_version_number",
    "last_parsed_time",
    "last_run_id",
    "last_run_state",
    "last_run_after",
    "next_dagrun_logical_date",
    "next_dagrun_run_after",
]


def _web_client() -> Any:
    from airlock.sdk.api import WebClient

    settings = load_settings()
    return WebClient(settings.client.api_url, client_token(settings))


def _with_last_run(dag: Any) -> dict[str, Any]:
    """The DAG's fields plus its last run's, flattened for a table."""
    import msgspec

    row: dict[str, Any] = msgspec.structs.asdict(dag)
    run = dag.last_run
    row["last_run_id"] = run.run_id if run else None
    row["last_run_state"] = run.state if run else None
    row["last_run_after"] = run.run_after if run else None
    return row


def run_list(args: argparse.Namespace) -> int:
    from airlock.sdk.api import ApiError

    client = _web_client()
    try:
        page = client.list_dags(
            search=args.search,
            tags=args.tags,
            owners=args.owners,
            bundle_name=args.bundles,
            paused=args.paused,
            stale=True if args.stale else None,
            has_import_errors=True if args.import_errors else None,
            order_by=args.order_by,
            limit=args.limit,
            offset=args.offset,
        )
    except ApiError as exc:
        raise CliError(exc.detail if exc.status < 500 else str(exc)) from None
    finally:
        client.close()
    rows = [_with_last_run(dag) for dag in page.dags]
    print_table(rows, DAG_COLUMNS, args.output, payload=page)
    if args.output == "table":
        shown = f"{args.offset + 1}-{args.offset + len(rows)}" if rows else "none"
        print(f"({shown} of {page.total_entries} DAGs)", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from airlock.sdk.api import ApiError

    client = _web_client()
    try:
        dag = client.get_dag(args.dag_id)
    except ApiError as exc:
        raise CliError(exc.detail if exc.status < 500 else str(exc)) from None
    finally:
        client.close()
    if args.output == "json":
        print_record(dag, [], "json")
    else:
        print_record(_with_last_run(dag), DAG_FIELDS, "table")
    return 0


def run_set_paused(args: argparse.Namespace) -> int:
    from airlock.sdk.api import ApiError

    client = _web_client()
    try:
        dag = client.set_paused(args.dag_id, args.is_paused, args.asset_backlog)
    except ApiError as exc:
        raise CliError(exc.detail if exc.status < 500 else str(exc)) from None
    finally:
        client.close()
    print(f"{dag.dag_id} is {'paused' if dag.is_paused else 'unpaused'}")
    return 0


def run_list_import_errors(args: argparse.Namespace) -> int:
    import msgspec

    from airlock.models.web_dags import ImportErrorList
    from airlock.sdk.api import ApiError

    client = _web_client()
    try:
        params: dict[str, Any] = {"limit": args.limit, "order_by": "filename"}
        if args.bundles:
            params["bundle_name"] = args.bundles
        if args.filename:
            params["filename_pattern"] = args.filename
        response = client.request("GET", "/api/v1/importErrors", params=params)
    except ApiError as exc:
        raise CliError(exc.detail if exc.status < 500 else str(exc)) from None
    finally:
        client.close()
    page = msgspec.json.decode(response.content, type=ImportErrorList)
    if args.output == "json":
        print_record(page, [], "json")
        return 0
    for error in page.import_errors:
        print(f"{error.bundle_name}: {error.filename} (parsed {error.timestamp.isoformat()})")
        for line in error.stack_trace.splitlines():
            print(f"    {line}")
        print()
    print(f"({len(page.import_errors)} of {page.total_entries} files with import errors)")
    return 0


def _dag_search_folders(args: argparse.Namespace) -> list[Path]:
    if args.folders:
        return [Path(f) for f in args.folders]
    settings = load_settings()
    configured = list(settings.dag_processor.bundles.values()) or list(
        settings.worker.bundles.values()
    )
    return [Path(f) for f in configured or ["deploy/dags"]]


def _find_dag_file(dag_id: str, folders: list[Path]) -> tuple[Path, Path]:
    """The file (and its folder) whose text names ``dag_id``, as a DAG or ``@dag`` function."""
    for folder in folders:
        if not folder.is_dir():
            raise CliError(f"DAG folder {folder} does not exist; pass --folder or --file")
        for path in sorted(folder.rglob("*.py")):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if dag_id in text:
                return path, folder
    searched = ", ".join(str(f) for f in folders)
    raise CliError(f"no DAG file in {searched} mentions {dag_id!r}; pass --file PATH")


def run_test(args: argparse.Namespace) -> int:
    from airlock.sdk.execution_time.dag_files import load_dag
    from airlock.sdk.timezone import parse

    try:
        conf = json.loads(args.conf)
    except json.JSONDecodeError as exc:
        raise CliError(f"--conf is not valid JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise CliError("--conf must be a JSON object, like '{\"key\": 1}'")
    try:
        logical_date = parse(args.logical_date) if args.logical_date else None
    except ValueError as exc:
        raise CliError(
            f"--logical-date {args.logical_date!r} is not an ISO 8601 date: {exc}"
        ) from None
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise CliError(f"DAG file {path} does not exist")
        root = path.parent
    else:
        path, root = _find_dag_file(args.dag_id, _dag_search_folders(args))
    try:
        dag = load_dag(str(path.resolve()), str(root.resolve()), args.dag_id)
    except Exception as exc:
        raise CliError(f"cannot load DAG {args.dag_id!r} from {path}: {exc}") from None
    try:
        result = dag.test(conf=conf, logical_date=logical_date)
    except Exception as exc:
        raise CliError(f"DAG {args.dag_id!r} cannot run: {exc}") from None
    for (task_id, map_index), error in sorted(result.errors.items()):
        if result.task_states.get((task_id, map_index)) == "failed":
            name = task_id if map_index < 0 else f"{task_id}[{map_index}]"
            print(f"{name} failed:", file=sys.stderr)
            traceback.print_exception(error, file=sys.stderr)
    print(f"{result.dag_id} {result.run_id}: {result.state}")
    return 0 if result.state == "success" else 1
