"""``airlock api``: serve any subset of the Web, Execution and Internal APIs in one process."""

from __future__ import annotations

import argparse
from typing import Any

from airlock.cli.errors import CliError
from airlock.core.settings import ALL_APIS, Settings, load_settings


def register(sub: Any) -> None:
    parser = sub.add_parser("api", help="serve the Web, Execution and/or Internal API")
    parser.add_argument(
        "--apps", help="comma-separated subset of web,execution,internal (default: [api] apps)"
    )
    parser.add_argument("--host", help="interface to listen on (default: [api] host)")
    parser.add_argument("--port", type=int, help="port to listen on (default: [api] port)")
    parser.add_argument(
        "--log-level", default="warning", help="uvicorn log level (default warning)"
    )
    parser.set_defaults(func=serve)


def parse_apps(value: str | None, settings: Settings) -> list[str]:
    if value is None:
        return list(settings.api.apps)
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in ALL_APIS]
    if unknown or not names:
        raise CliError(f"--apps {value!r}: choose one or more of {', '.join(ALL_APIS)}")
    return list(dict.fromkeys(names))


#: The key files each API needs: the Web API signs user tokens and the Execution API task
#: tokens (private key); all three verify tokens (public key) and decrypt stored secrets.
KEYS_NEEDED: dict[str, tuple[str, ...]] = {
    "web": ("private", "public", "secrets"),
    "execution": ("private", "public", "secrets"),
    "internal": ("public", "secrets"),
}
_KEY_SETTINGS = {
    "private": ("the private signing key", "[auth] private_key_file"),
    "public": ("the public verification key", "[auth] public_key_file"),
    "secrets": ("the secrets key", "[secrets] key_file"),
}


def check_keys(settings: Settings, apps: list[str]) -> None:
    """Refuse to serve ``apps`` without a key one of them needs, naming the key, the app that
    needs it and the setting that points at it (an Internal API alone needs no private key)."""
    paths = {
        "private": settings.private_key_path,
        "public": settings.public_key_path,
        "secrets": settings.secrets_key_path,
    }
    for app in apps:
        for key in KEYS_NEEDED[app]:
            path = paths[key]
            if not path.is_file():
                what, setting = _KEY_SETTINGS[key]
                raise CliError(
                    f"--apps {','.join(apps)}: the {app} API needs {what}, but {path} does not "
                    f"exist; set {setting} to its file, or run `airlock keys generate` on the "
                    "control plane and copy the key here"
                )


def build_asgi(settings: Settings, apps: list[str]) -> Any:
    """One ASGI app serving ``apps``; they share one connection pool to the DB."""
    from airlock.cli.compose import ComposedApi
    from airlock.db.database import Database

    database = Database(
        settings.database_url(), sqlite_busy_timeout_ms=settings.database.sqlite_busy_timeout_ms
    )
    built: dict[str, Any] = {}
    for name in apps:
        if name == "web":
            from airlock.web.app import create_app as create_web

            built[name] = create_web(settings, database=database)
        elif name == "execution":
            from airlock.execution.app import create_app as create_execution

            built[name] = create_execution(settings, database=database)
        else:
            from airlock.internal.app import create_app as create_internal

            built[name] = create_internal(settings, database=database)
    return ComposedApi(built)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from airlock.cli.http_server import with_header_timeout
    from airlock.cli.telemetry import start_telemetry
    from airlock.core.tokens.keys import KeyFileError

    settings = load_settings()
    apps = parse_apps(args.apps, settings)
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    check_keys(settings, apps)
    start_telemetry(settings, "api")
    try:
        asgi = build_asgi(settings, apps)
    except (KeyFileError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from None
    print(f"airlock api: serving {', '.join(apps)} on http://{host}:{port}", flush=True)
    # httptools parses HTTP/1.1 in C and uvloop runs the event loop in C: together they take about
    # a third off the CPU time of a small request compared to h11 on asyncio's own loop; each
    # response then leaves in one write (airlock.cli.http_server).
    uvicorn.run(
        asgi,
        host=host,
        port=port,
        log_level=args.log_level,
        access_log=False,
        http=with_header_timeout(settings.api.header_timeout_s),
        loop="uvloop",
    )
    return 0
