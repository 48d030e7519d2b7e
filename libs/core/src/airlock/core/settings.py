"""One typed settings object for every Airlock process.

Settings come from three places, later ones winning: the defaults below, an ``airlock.toml`` file
(``AIRLOCK_CONFIG``, else ``./airlock.toml`` when present) and ``AIRLOCK_<SECTION>__<KEY>``
environment variables. Each service reads only its own section; processes outside the control zone
are started without a ``[database]`` URL or a signing key, so nothing there can find the DB.

A setting that is unknown or has the wrong type is an error that names it: a typo must never be
silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

ENV_PREFIX = "AIRLOCK_"
#: Environment variables with the prefix that are not settings (the test suite's own knobs).
_NON_SETTING_PREFIXES = ("AIRLOCK_TEST_",)
_TOP_LEVEL_ENV = {"AIRLOCK_HOME": "home", "AIRLOCK_ZONE": "zone", "AIRLOCK_CONFIG": None}

Zone = Literal["control", "execution", "processing", "public"]
ApiName = Literal["web", "execution", "internal"]
ALL_APIS: tuple[ApiName, ...] = ("web", "execution", "internal")


class SettingsError(ValueError):
    """A setting is unknown, malformed or has the wrong type; the message names it."""


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class DatabaseSettings(_Section):
    #: SQLAlchemy URL. Empty means the embedded SQLite file under AIRLOCK_HOME (control zone only).
    url: str | None = None
    sqlite_busy_timeout_ms: int = 5000
    #: Connections each control-zone process keeps open (as many again in a burst).
    pool_size: int = 20


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    apps: list[ApiName] = msgspec.field(default_factory=lambda: list(ALL_APIS))
    #: A request whose headers have not all arrived this long after it began is answered 408
    #: and its connection closed (a slow client must not hold connections open).
    header_timeout_s: float = 10.0


class WebSettings(_Section):
    max_body_bytes: int = 1_000_000
    user_token_ttl_s: int = 12 * 3600
    #: Failed log-ins for one user name, or from one client address, within the window, after
    #: which log-ins are refused (429) for ``login_block_s`` (doubling with each further failure).
    login_max_failures_per_user: int = 5
    login_max_failures_per_address: int = 50
    login_failure_window_s: int = 900
    login_block_s: int = 30
    #: Deliveries one event receiver accepts per second (sustained, per API process), and at
    #: once; past them a sender gets 429 with Retry-After.
    receiver_rate_per_s: float = 200.0
    receiver_burst: int = 400


class ExecutionSettings(_Section):
    max_body_bytes: int = 5_000_000
    task_token_ttl_s: int = 600
    #: How often a waiting long-poll re-checks the DB for work queued by another process.
    poll_interval_ms: int = 50
    #: Longest a long-poll for workloads is held open.
    max_wait_s: float = 30.0
    #: A claimed task that has not started running by then is handed out again.
    claim_lease_s: float = 60.0
    #: A task the hand-out started whose worker has not confirmed it by then (its first
    #: heartbeat) goes back to the queue, its try uncounted: the reply never reached the worker.
    start_confirm_s: float = 10.0


class InternalSettings(_Section):
    max_body_bytes: int = 64_000_000
    #: Largest compressed DAG blob the server accepts, and the largest size it may declare.
    max_dag_blob_bytes: int = 8_000_000
    max_dag_decompressed_bytes: int = 64_000_000
    #: Decompressed bytes of the new DAG versions one upload may carry, all blobs together.
    max_batch_decompressed_bytes: int = 256_000_000
    #: Most tasks a DAG may have: bounds what one run (a trigger, a scheduled run) creates.
    max_dag_tasks: int = 10_000
    #: Whether a DAG seen for the first time is stored paused (Airflow's setting of the same
    #: name); a DAG's own ``is_paused_upon_creation`` wins.
    dags_are_paused_at_creation: bool = True
    #: A triggerer's lease on a trigger lasts this long without a heartbeat: a dead triggerer's
    #: triggers move to a live one within it (plus the live one's next lease call).
    trigger_lease_s: float = 10.0
    #: A failed callback waits ``callback_backoff_s * 2**(attempt-1)`` s, at most the max.
    callback_backoff_s: float = 5.0
    callback_backoff_max_s: float = 300.0


class DagProcessorSettings(_Section):
    """The DAG processor (processing zone): reaches the Internal API only."""

    api_url: str = "http://127.0.0.1:8080"
    #: The service token, inline or in a file (the file wins when both are set).
    token: str | None = None
    token_file: str | None = None
    #: Local-folder bundles: name -> folder. From the environment: ``name=folder,name2=folder2``.
    bundles: dict[str, str] = msgspec.field(default_factory=dict)
    parsers: int = 2
    file_timeout_s: float = 30.0
    interval_s: float = 5.0
    batch_max_files: int = 50
    batch_max_bytes: int = 16_000_000
    #: A parser process is replaced after this many files, bounding what leaks across files.
    parser_max_files: int = 100
    #: The user DAG files are parsed as when the processor runs as root (unset: ``nobody``;
    #: empty: the processor's own user). Ignored when not root.
    run_as_user: str | None = None
    #: Heap and private memory one parser may use (``RLIMIT_DATA``), in MiB; 0: no cap.
    parser_memory_mb: int = 2048


class TriggererSettings(_Section):
    """The triggerer (processing zone): reaches the Internal API only."""

    api_url: str = "http://127.0.0.1:8080"
    token: str | None = None
    token_file: str | None = None
    #: Names the triggerer's leases and its health row; default: host and pid.
    name: str | None = None
    #: How many triggers it runs at once.
    capacity: int = 1000
    #: How many asset watchers it runs at once (beside its triggers).
    watcher_capacity: int = 100
    #: Local-folder bundles it loads trigger classes from: name -> folder.
    bundles: dict[str, str] = msgspec.field(default_factory=dict)
    #: How often it asks for more triggers when it has room.
    poll_s: float = 1.0
    #: The user trigger code runs as when the triggerer runs as root (unset: ``nobody``; empty:
    #: the triggerer's own user). Ignored when not root.
    run_as_user: str | None = None
    #: Heap and private memory the trigger runner (all its triggers) may use, in MiB; 0: no cap.
    runner_memory_mb: int = 4096
    #: The one folder trigger and watcher code may write to (their ``TMPDIR`` and working
    #: folder); unset: a new private folder, removed when the triggerer stops.
    temp_folder: str | None = None


class CallbackProcessorSettings(_Section):
    """The callback processor (processing zone): reaches the Internal API only."""

    api_url: str = "http://127.0.0.1:8080"
    #: The service token (role ``callback-processor``), inline or in a file (the file wins).
    token: str | None = None
    token_file: str | None = None
    name: str | None = None
    #: Local-folder bundles whose callbacks it runs: name -> folder (``name=folder,...``).
    bundles: dict[str, str] = msgspec.field(default_factory=dict)
    #: Callbacks run at once, each in its own child process.
    concurrency: int = 4
    #: A callback still running after this is killed and its attempt fails.
    timeout_s: float = 60.0
    #: How long a lease lasts past the callback's timeout before another processor may take it.
    lease_grace_s: float = 15.0
    #: How long to wait between polls when no callback is due.
    poll_interval_s: float = 0.5
    #: A child process is replaced after this many callbacks.
    child_max_callbacks: int = 200
    #: The user callbacks run as when the processor runs as root (unset: ``nobody``; empty: the
    #: processor's own user). Ignored when not root.
    run_as_user: str | None = None
    #: Heap and private memory one callback child may use, in MiB; 0: no cap.
    child_memory_mb: int = 2048
    #: The one folder callbacks may write to (their ``TMPDIR`` and working folder); unset: a
    #: new private folder, removed when the processor stops.
    temp_folder: str | None = None


class SchedulerSettings(_Section):
    """The scheduler (control zone)."""

    name: str = "scheduler"
    #: Longest sleep between loops when nothing wakes the scheduler earlier.
    loop_interval_s: float = 1.0
    #: A running task whose heartbeat is older than this is failed or retried (a zombie).
    task_heartbeat_timeout_s: float = 60.0
    max_tis_per_loop: int = 512


class WorkerSettings(_Section):
    """A worker (execution zone): reaches the Execution API only."""

    api_url: str = "http://127.0.0.1:8080"
    token: str | None = None
    token_file: str | None = None
    name: str | None = None
    queues: list[str] = msgspec.field(default_factory=lambda: ["default"])
    concurrency: int = 16
    #: Local-folder bundles the worker loads DAG files from: name -> folder.
    bundles: dict[str, str] = msgspec.field(default_factory=dict)
    heartbeat_s: float = 5.0
    log_batch_s: float = 0.5
    #: A task process's memory cap in MiB: its heap and private memory (``RLIMIT_DATA``), and
    #: its resident memory, checked by the worker; 0: no cap.
    task_memory_mb: int | None = 4096
    #: The user tasks run as when the worker runs as root (unset: ``nobody``; empty: the
    #: worker's own user). Ignored when not root.
    run_as_user: str | None = None


class ClientSettings(_Section):
    """The `airlock` CLI's verbs that talk to the Web API (public zone)."""

    api_url: str = "http://127.0.0.1:8080"
    #: A user or API token; else the one `airlock login` saved under AIRLOCK_HOME.
    token: str | None = None
    token_file: str | None = None


class AuthSettings(_Section):
    """Token keys. Only the control plane holds the private key; verifiers need the public one."""

    private_key_file: str | None = None
    public_key_file: str | None = None
    issuer: str = "airlock"
    leeway_s: int = 10


class SecretsSettings(_Section):
    """The key that encrypts connection passwords and secret variables at rest."""

    key_file: str | None = None


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class TelemetrySettings(_Section):
    """OpenTelemetry (ADR 0024). Off unless an OTLP endpoint or a Prometheus port is set; the
    standard ``OTEL_*`` variables apply too (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``…_PROTOCOL``,
    ``OTEL_TRACES_SAMPLER``, ``OTEL_SDK_DISABLED``, …) and these settings win over them."""

    #: Where to send traces and metrics over OTLP, e.g. ``http://127.0.0.1:4318`` (a collector).
    otlp_endpoint: str | None = None
    #: ``http/protobuf`` (default) or ``grpc`` (needs ``opentelemetry-exporter-otlp-proto-grpc``).
    otlp_protocol: Literal["http/protobuf", "grpc"] | None = None
    service_namespace: str = "airlock"
    #: Names this process in the ``service.instance.id`` resource attribute (default host:pid).
    instance: str | None = None
    #: Serve metrics for Prometheus to scrape at ``http://prometheus_host:prometheus_port/metrics``.
    #: ``run-all`` gives each service its own port from this one up: api, scheduler, worker,
    #: triggerer, callback processor, then the DAG processors.
    prometheus_port: int | None = None
    prometheus_host: str = "127.0.0.1"
    #: How often metrics are pushed over OTLP.
    metric_export_interval_s: float = 10.0
    #: Cardinality guard: distinct attribute sets one metric keeps; more fold into one
    #: ``otel.metric.overflow`` series.
    max_series_per_metric: int = 500
    #: A span per SQL statement in the control zone (SQLAlchemy's OpenTelemetry
    #: instrumentation), for debugging; a service refuses to start when that instrumentation
    #: does not support the installed SQLAlchemy.
    sql_spans: bool = False


class ZoneError(RuntimeError):
    """Something only the control zone may have was asked for outside it."""


#: Settings only the control zone may hold, as (section, key): the DB URL, the token signing
#: key and the secrets-at-rest key. A service of another zone given one refuses to start.
CONTROL_ONLY_SETTINGS: tuple[tuple[str, str], ...] = (
    ("database", "url"),
    ("auth", "private_key_file"),
    ("secrets", "key_file"),
)


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    home: str = ".airlock"
    #: The network zone this process runs in (DESIGN §1); each service command sets its own.
    zone: Zone = "control"
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    api: ApiSettings = msgspec.field(default_factory=ApiSettings)
    web: WebSettings = msgspec.field(default_factory=WebSettings)
    execution: ExecutionSettings = msgspec.field(default_factory=ExecutionSettings)
    internal: InternalSettings = msgspec.field(default_factory=InternalSettings)
    dag_processor: DagProcessorSettings = msgspec.field(default_factory=DagProcessorSettings)
    callback_processor: CallbackProcessorSettings = msgspec.field(
        default_factory=CallbackProcessorSettings
    )
    scheduler: SchedulerSettings = msgspec.field(default_factory=SchedulerSettings)
    triggerer: TriggererSettings = msgspec.field(default_factory=TriggererSettings)
    worker: WorkerSettings = msgspec.field(default_factory=WorkerSettings)
    client: ClientSettings = msgspec.field(default_factory=ClientSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    secrets: SecretsSettings = msgspec.field(default_factory=SecretsSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    telemetry: TelemetrySettings = msgspec.field(default_factory=TelemetrySettings)

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser().resolve()

    @property
    def private_key_path(self) -> Path:
        return _under_home(self, self.auth.private_key_file, "keys/jwt_signing.pem")

    @property
    def public_key_path(self) -> Path:
        return _under_home(self, self.auth.public_key_file, "keys/jwt_public.pem")

    @property
    def secrets_key_path(self) -> Path:
        return _under_home(self, self.secrets.key_file, "keys/secrets.key")

    def for_zone(self, zone: Zone, service: str) -> Settings:
        """These settings for ``service``, which runs in ``zone``. Outside the control zone a
        control-only setting (:data:`CONTROL_ONLY_SETTINGS`) is refused with a SettingsError
        naming it: a worker given the DB URL, or a DAG processor given the signing key, was
        deployed into the wrong zone, and must not start holding what its zone may not have."""
        if zone != "control":
            for section, key in CONTROL_ONLY_SETTINGS:
                if getattr(getattr(self, section), key):
                    env_name = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
                    raise SettingsError(
                        f"the {service} runs in the {zone} zone and must not be given "
                        f"[{section}] {key} ({env_name}): only the control zone (the APIs, the "
                        "scheduler, `airlock db migrate`) holds the database URL and keys; "
                        "remove it from this service's environment and config file"
                    )
        return msgspec.structs.replace(self, zone=zone)

    def database_url(self) -> str:
        """The DB URL for control-zone processes: the configured one, else the embedded SQLite."""
        if self.zone != "control":
            raise ZoneError(
                f"this process runs in the {self.zone} zone, which has no database access; "
                "use the Airlock APIs instead"
            )
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.home_path / 'airlock.db'}"


def _under_home(settings: Settings, configured: str | None, default: str) -> Path:
    path = Path(configured).expanduser() if configured else Path(default)
    return path if path.is_absolute() else settings.home_path / path


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Read settings from the TOML file and the environment; raise SettingsError naming a bad one."""
    env = os.environ if environ is None else environ
    path = _config_path(env, config_file)
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise SettingsError(
                f"config file {path} does not exist (from AIRLOCK_CONFIG)"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    _merge_env(raw, env)
    source = f"{path} and AIRLOCK_* environment" if path else "AIRLOCK_* environment"
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid setting in {source}: {_readable(exc)}") from None


def _config_path(env: Mapping[str, str], explicit: str | Path | None) -> Path | None:
    if explicit is not None:
        return Path(explicit)
    if env.get("AIRLOCK_CONFIG"):
        return Path(env["AIRLOCK_CONFIG"])
    local = Path("airlock.toml")
    return local if local.is_file() else None


def _merge_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    sections = {f.name: f.type for f in msgspec.structs.fields(Settings)}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name.startswith(_NON_SETTING_PREFIXES):
            continue
        if name in _TOP_LEVEL_ENV:
            if key := _TOP_LEVEL_ENV[name]:
                raw[key] = value
            continue
        section, sep, key = name[len(ENV_PREFIX) :].lower().partition("__")
        section_type = sections.get(section)
        if not sep or not isinstance(section_type, type) or not issubclass(section_type, _Section):
            raise SettingsError(
                f"unknown setting {name}: expected AIRLOCK_<SECTION>__<KEY> with a section among "
                f"{', '.join(s for s, t in sections.items() if t is not str)}, or AIRLOCK_HOME"
            )
        known = {f.name: f for f in msgspec.structs.fields(section_type)}
        if key not in known:
            raise SettingsError(
                f"unknown setting {name}: section [{section}] has {', '.join(sorted(known))}"
            )
        raw.setdefault(section, {})[key] = _env_value(name, value, known[key].type)


def _env_value(name: str, value: str, annotation: Any) -> Any:
    """Environment values are strings; lists are comma-separated, dicts ``k=v,k2=v2``, and an
    empty value means unset."""
    origin = getattr(annotation, "__origin__", None)
    if origin is list:
        return [item.strip() for item in value.split(",") if item.strip()]
    if origin is dict:
        pairs = [item.strip() for item in value.split(",") if item.strip()]
        if any("=" not in pair for pair in pairs):
            raise SettingsError(f"{name}={value!r}: expected name=value pairs separated by commas")
        return dict(pair.split("=", 1) for pair in pairs)
    if value == "" and "None" in repr(annotation):
        return None
    return value


def _readable(exc: msgspec.ValidationError) -> str:
    # msgspec says "... - at `$.api.port`"; turn the JSON path into the TOML key people typed.
    text = str(exc)
    return text.replace("`$.", "`").replace("$.", "")
