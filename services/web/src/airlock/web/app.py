"""The Web API app factory: what people, the UI, the CLI and external systems talk to."""

from __future__ import annotations

from litestar import Litestar

from airlock.core.http import ApiAppConfig, build_app
from airlock.core.secrets_key import read_secrets_keys
from airlock.core.settings import Settings, load_settings
from airlock.core.tokens.keys import load_private_key
from airlock.core.tokens.signer import TokenSigner
from airlock.db import SecretBox
from airlock.db.database import Database
from airlock.web.api_tokens import ApiTokenController
from airlock.web.asset_watchers import AssetWatcherController
from airlock.web.assets import AssetController
from airlock.web.auth import AuthController
from airlock.web.callbacks import CallbackController
from airlock.web.connections import ConnectionController
from airlock.web.dag_versions import DagSourceController, DagVersionController
from airlock.web.dags import DagController
from airlock.web.health import HealthController
from airlock.web.import_errors import ImportErrorController
from airlock.web.pools import PoolController
from airlock.web.receivers import (
    DeliveryLimiter,
    ReceiverController,
    ReceiverDeliveryController,
)
from airlock.web.runs import DagRunController
from airlock.web.task_instances import ClearTaskInstancesController, TaskInstanceController
from airlock.web.triggers import TriggerController
from airlock.web.user_tokens import UserTokenVerifier
from airlock.web.users import UserController
from airlock.web.variables import VariableController
from airlock.web.xcoms import XComController

PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> Litestar:
    settings = settings or load_settings()
    db = database or Database(
        settings.database_url(), sqlite_busy_timeout_ms=settings.database.sqlite_busy_timeout_ms
    )
    verifier = UserTokenVerifier(settings, db)
    signer = TokenSigner(load_private_key(settings.private_key_path), settings.auth.issuer)
    return build_app(
        ApiAppConfig(
            name="web",
            title="Airlock Web API",
            prefix=PREFIX,
            audience="web",
            verifier=verifier,
            route_handlers=[
                AuthController,
                ApiTokenController,
                UserController,
                DagController,
                DagVersionController,
                DagSourceController,
                ImportErrorController,
                AssetController,
                AssetWatcherController,
                DagRunController,
                TaskInstanceController,
                TriggerController,
                ClearTaskInstancesController,
                XComController,
                VariableController,
                ConnectionController,
                PoolController,
                HealthController,
                CallbackController,
                ReceiverController,
                ReceiverDeliveryController,
            ],
            max_body_bytes=settings.web.max_body_bytes,
            probe=db.ping,
            sessions=db.sessions,
            inline_blocking=db.is_sqlite,
            # No DAG cache: the Web API keeps no DAG between requests (airlock.web.runs).
            collaborators={
                "signer": signer,
                "web_settings": settings.web,
                "secret_box": SecretBox(read_secrets_keys(settings.secrets_key_path)),
                "receiver_limiter": DeliveryLimiter(
                    settings.web.receiver_rate_per_s, settings.web.receiver_burst
                ),
            },
            on_shutdown=[] if database else [db.close],
        )
    )
