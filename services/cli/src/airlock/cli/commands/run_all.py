"""``airlock run-all``: the whole of Airlock on one machine, one OS process per service.

It prepares what a first start needs (DB schema, keys, an admin login), then starts every
service as a child process with only its own zone's settings, and stops them all on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from airlock.cli.errors import CliError
from airlock.cli.stack_supervisor import exec_supervisor
from airlock.core.settings import Settings, Zone, load_settings


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "run-all", help="start every Airlock service on this machine (embedded SQLite by default)"
    )
    parser.add_argument("--host", help="API interface (default: [api] host)")
    parser.add_argument("--port", type=int, help="API port (default: [api] port)")
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=run_all)


def prepare(settings: Settings) -> str | None:
    """Migrate, create keys, create the first admin. Return its new password, if one was made."""
    from sqlalchemy import select

    from airlock.cli.users import add_user
    from airlock.core.secrets_key import ensure_secrets_key
    from airlock.core.tokens.keys import generate_key_pair
    from airlock.db import User, make_engine, make_session_factory
    from airlock.db import migrate as migrations

    settings.home_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    url = settings.database_url()
    migrations.upgrade(url)
    generate_key_pair(settings.private_key_path, settings.public_key_path)
    ensure_secrets_key(settings.secrets_key_path)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        has_users = session.scalar(select(User.id).limit(1)) is not None
    engine.dispose()
    if has_users:
        make_private(settings.home_path)
        return None
    password = secrets.token_urlsafe(12)
    add_user(url, "admin", password, "admin", None)
    secret_file = settings.home_path / "admin-password.txt"
    secret_file.write_text(password + "\n")
    make_private(settings.home_path)
    return password


def make_private(home: Path) -> None:
    """``AIRLOCK_HOME`` and everything in it (keys, tokens, the SQLite file) readable by its
    owner only: folders 0700, files 0600 at most, tightened on every start."""
    for folder, _, files in os.walk(home):
        for path in [folder, *(os.path.join(folder, f) for f in files)]:
            mode = os.lstat(path).st_mode
            if not os.path.islink(path) and mode & 0o077:
                os.chmod(path, mode & 0o700)


def run_all(args: argparse.Namespace) -> int:
    settings = load_settings()
    bundles = dict(settings.dag_processor.bundles) or _default_bundles()
    if args.prepare_only:
        prepare(settings)
        _issue_tokens(settings, bundles)
        make_private(settings.home_path)
        return 0
    # Preparing imports SQLAlchemy, Alembic and Argon2, and signing tokens cryptography; a child
    # does both, so that this supervisor, which lives as long as the stack, stays small.
    admin_file = settings.home_path / "admin-password.txt"
    first_start = not admin_file.exists()
    prepared = subprocess.run(
        [sys.executable, "-m", "airlock.cli", "run-all", "--prepare-only"], check=False
    )
    if prepared.returncode != 0:
        raise CliError("could not prepare the database, keys and admin login (see the error above)")
    password = admin_file.read_text().strip() if first_start and admin_file.exists() else None
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    api_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    airlock = [sys.executable, "-m", "airlock.cli"]
    services: dict[str, tuple[list[str], dict[str, str]]] = {
        "api": (
            [
                *airlock,
                "api",
                "--apps",
                "web,execution,internal",
                "--host",
                host,
                "--port",
                str(port),
            ],
            zone_env(settings, "control"),
        ),
    }
    services["scheduler"] = ([*airlock, "scheduler"], zone_env(settings, "control"))
    for bundle, folder in sorted(bundles.items()):
        env = zone_env(settings, "processing")
        env["AIRLOCK_DAG_PROCESSOR__API_URL"] = api_url
        env["AIRLOCK_DAG_PROCESSOR__TOKEN_FILE"] = str(
            _token_path(settings, f"dag-processor-{bundle}")
        )
        env["AIRLOCK_DAG_PROCESSOR__BUNDLES"] = f"{bundle}={Path(folder).resolve()}"
        services[f"dag-processor[{bundle}]"] = (
            [*airlock, "dag-processor", "--bundle", bundle],
            env,
        )

    callback_env = zone_env(settings, "processing")
    callback_env["AIRLOCK_CALLBACK_PROCESSOR__API_URL"] = api_url
    callback_env["AIRLOCK_CALLBACK_PROCESSOR__TOKEN_FILE"] = str(
        _token_path(settings, "callback-processor")
    )
    callback_env["AIRLOCK_CALLBACK_PROCESSOR__BUNDLES"] = ",".join(
        f"{name}={Path(folder).resolve()}" for name, folder in sorted(bundles.items())
    )
    if bundles:
        services["callback-processor"] = ([*airlock, "callback-processor"], callback_env)

    worker_env = zone_env(settings, "execution")
    worker_env["AIRLOCK_WORKER__API_URL"] = api_url
    worker_env["AIRLOCK_WORKER__TOKEN_FILE"] = str(_token_path(settings, "worker"))
    worker_env["AIRLOCK_WORKER__BUNDLES"] = ",".join(
        f"{name}={Path(folder).resolve()}" for name, folder in sorted(bundles.items())
    )
    services["worker"] = ([*airlock, "worker"], worker_env)

    triggerer_env = zone_env(settings, "processing")
    triggerer_env["AIRLOCK_TRIGGERER__API_URL"] = api_url
    triggerer_env["AIRLOCK_TRIGGERER__TOKEN_FILE"] = str(_token_path(settings, "triggerer"))
    triggerer_env["AIRLOCK_TRIGGERER__BUNDLES"] = worker_env["AIRLOCK_WORKER__BUNDLES"]
    services["triggerer"] = ([*airlock, "triggerer"], triggerer_env)

    _spread_prometheus_ports(settings, services)
    print(f"Airlock home: {settings.home_path}")
    print(f"API: {api_url}  (web /api/v1, execution /execution, internal /internal)")
    print(f"OpenAPI: {api_url}/api/v1/openapi")
    if password:
        print(f"Log in as admin with password {password} (also in {admin_file})")
    else:
        print(f"Log in as admin; the first-start password is in {admin_file}")
    print(f"  airlock login -u admin --password-stdin < {admin_file}")
    print("  airlock dags trigger taskflow_etl --wait")
    for bundle, folder in sorted(bundles.items()):
        print(f"DAG processor: bundle {bundle} from {Path(folder).resolve()}")
    if bundles:
        print(f"Callback processor: bundles {', '.join(sorted(bundles))}")
    # This process lives as long as the stack: it becomes a small supervisor of the services,
    # which a fork server holding no setting at all forks from the code they share.
    fork_server = (
        [sys.executable, "-m", "airlock.cli.fork_server"],
        {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")},
    )
    exec_supervisor(services, fork_server)
    return 0  # (not reached)


def _spread_prometheus_ports(
    settings: Settings, services: dict[str, tuple[list[str], dict[str, str]]]
) -> None:
    """Each service serves its own metrics: ``telemetry.prometheus_port`` is the API's, and the
    others take the next ports in a fixed order (scheduler, worker, triggerer, callback
    processor, then the DAG processors by bundle)."""
    first = settings.telemetry.prometheus_port
    if not first:
        return
    order = ["api", "scheduler", "worker", "triggerer", "callback-processor"]
    names = [n for n in order if n in services] + sorted(n for n in services if n not in order)
    for offset, name in enumerate(names):
        port = first + offset
        services[name][1]["AIRLOCK_TELEMETRY__PROMETHEUS_PORT"] = str(port)
        print(
            f"Prometheus metrics of {name}: http://{settings.telemetry.prometheus_host}:{port}/metrics"
        )


def _default_bundles() -> dict[str, str]:
    """The example bundle shipped in the repository, when run from its root."""
    examples = Path("deploy/dags")
    return {"dags": str(examples)} if examples.is_dir() else {}


def _issue_tokens(settings: Settings, bundles: dict[str, str]) -> None:
    """A service token per bundle for its DAG processor, the worker's token, the triggerer's
    (scoped to the bundles) and the callback processor's (all bundles), each in a file only its
    owner can read (:func:`_token_path`)."""
    from airlock.core.tokens import TokenKind
    from airlock.core.tokens.keys import load_private_key
    from airlock.core.tokens.signer import TokenSigner

    signer = TokenSigner(load_private_key(settings.private_key_path), settings.auth.issuer)
    month = 30 * 86400
    for bundle in bundles:
        token = signer.issue(
            TokenKind.SERVICE,
            "run-all-dag-processor",
            month,
            role="dag-processor",
            bundles=[bundle],
        )
        _write_token(_token_path(settings, f"dag-processor-{bundle}"), token)
    if bundles:
        _write_token(
            _token_path(settings, "callback-processor"),
            signer.issue(
                TokenKind.SERVICE,
                "run-all-callback-processor",
                month,
                role="callback-processor",
                bundles=sorted(bundles),
            ),
        )
    _write_token(
        _token_path(settings, "worker"), signer.issue(TokenKind.WORKER, "run-all-worker", month)
    )
    _write_token(
        _token_path(settings, "triggerer"),
        signer.issue(
            TokenKind.SERVICE, "run-all-triggerer", month, role="triggerer", bundles=list(bundles)
        ),
    )


def _token_path(settings: Settings, name: str) -> Path:
    return settings.home_path / "tokens" / f"{name}.token"


def _write_token(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)


#: Settings sections a process outside the control zone must never receive.
CONTROL_ONLY_PREFIXES = (
    "AIRLOCK_DATABASE__",
    "AIRLOCK_AUTH__PRIVATE_KEY_FILE",
    "AIRLOCK_SECRETS__",
)


def zone_env(settings: Settings, zone: Zone, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child in ``zone``.

    Control-zone children get the settings as they are. Any other child gets no DB or key
    setting: a config file of its own, written from the settings less the control-only sections,
    replaces ``airlock.toml`` (which may hold a DB URL), so nothing it runs can find the database.
    """
    env = dict(os.environ if base is None else base)
    env["AIRLOCK_HOME"] = str(settings.home_path)
    env["AIRLOCK_ZONE"] = zone
    if zone == "control":
        return env
    for name in list(env):
        if name.startswith(CONTROL_ONLY_PREFIXES):
            del env[name]
    env["AIRLOCK_CONFIG"] = str(write_zone_config(settings, zone))
    return env


def write_zone_config(settings: Settings, zone: Zone) -> Path:
    import msgspec
    import tomli_w

    # TOML has no null: an unset setting is simply left out.
    data = {
        name: {k: v for k, v in section.items() if v is not None}
        if isinstance(section, dict)
        else section
        for name, section in msgspec.to_builtins(settings).items()
    }
    for section in ("database", "secrets", "zone", "home"):
        data.pop(section, None)
    data["auth"].pop("private_key_file", None)
    path = settings.home_path / "zones" / f"{zone}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Written by airlock run-all for the {zone} zone: no database, no keys.\n"
    path.write_text(header + tomli_w.dumps(data))
    return path
