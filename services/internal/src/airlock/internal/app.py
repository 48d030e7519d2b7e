"""The Internal API app factory: the processing zone's door, instead of the database.

What it serves today: a bundle's files as the server holds them and the upload of parsed DAGs
(:mod:`airlock.internal.bundles`, for the DAG processor), the variables and connections a
DAG file or a callback reads (:mod:`airlock.internal.secrets`), the triggerer's leases on the
triggers of deferred tasks (:mod:`airlock.internal.triggers`) and on asset watchers
(:mod:`airlock.internal.watchers`), and the callback queue
(:mod:`airlock.internal.callbacks`, for the callback processor). Every caller holds a service
token naming its role and bundles.
"""

from __future__ import annotations

from litestar import Litestar

from airlock.core.http import ApiAppConfig, build_app, require_kind
from airlock.core.secrets_key import read_secrets_keys
from airlock.core.settings import Settings, load_settings
from airlock.core.tokens import TokenKind
from airlock.core.tokens.verifier import verifier_from_settings
from airlock.db import SecretBox
from airlock.db.database import Database
from airlock.internal.bundles import BundleController
from airlock.internal.callbacks import CallbackController
from airlock.internal.secrets import SecretsController
from airlock.internal.triggers import TriggerController
from airlock.internal.watchers import WatcherController
from airlock.models.versions import INTERNAL_VERSIONS

PREFIX = "/internal"


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> Litestar:
    settings = settings or load_settings()
    db = database or Database(
        settings.database_url(), sqlite_busy_timeout_ms=settings.database.sqlite_busy_timeout_ms
    )
    verifier = verifier_from_settings(
        settings.public_key_path,
        issuer=settings.auth.issuer,
        leeway_s=settings.auth.leeway_s,
        is_revoked=db.is_revoked,
        blocking=True,
    )
    return build_app(
        ApiAppConfig(
            name="internal",
            title="Airlock Internal API",
            prefix=PREFIX,
            audience="internal",
            verifier=verifier,
            route_handlers=[
                BundleController,
                SecretsController,
                TriggerController,
                WatcherController,
                CallbackController,
            ],
            guards=[require_kind(TokenKind.SERVICE)],
            max_body_bytes=settings.internal.max_body_bytes,
            probe=db.ping,
            sessions=db.sessions,
            inline_blocking=db.is_sqlite,
            collaborators={
                "internal_settings": settings.internal,
                "secret_box": SecretBox(read_secrets_keys(settings.secrets_key_path)),
            },
            on_shutdown=[] if database else [db.close],
            versions=INTERNAL_VERSIONS,
        )
    )
