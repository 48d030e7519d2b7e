"""The Execution API app factory: the only door workers and running tasks have into Airlock."""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide

from airlock.core.http import ApiAppConfig, build_app
from airlock.core.settings import Settings, load_settings
from airlock.core.tokens.verifier import verifier_from_settings
from airlock.db.database import Database
from airlock.execution.identity import get_identity

PREFIX = "/execution"


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
    )
    return build_app(
        ApiAppConfig(
            name="execution",
            title="Airlock Execution API",
            prefix=PREFIX,
            audience="execution",
            verifier=verifier,
            route_handlers=[get_identity],
            max_body_bytes=settings.execution.max_body_bytes,
            probe=db.ping,
            dependencies={"session": Provide(db.session)},
            state={"settings": settings},
            on_shutdown=[] if database else [db.close],
        )
    )
