"""Airlock's metadata database: ORM models, engines and sessions, migrations, secrets at rest.

Control zone only (DESIGN §1): nothing outside the scheduler and the API servers imports this.
"""

from airlock.db.base import Base, StrEnumString, UtcDateTime, utcnow
from airlock.db.crypto import SecretBox, SecretDecryptError, generate_secret_key
from airlock.db.engine import make_engine, make_session_factory, normalize_url, upsert_insert
from airlock.db.ids import new_task_instance_id, new_uuid7
from airlock.db.models import (
    DEFAULT_POOL_NAME,
    DEFAULT_POOL_SLOTS,
    RETURN_VALUE_KEY,
    ApiToken,
    Asset,
    AssetDagRunQueue,
    AssetEvent,
    AssetState,
    AssetWatcher,
    Bundle,
    BundleFile,
    CallbackRequest,
    ComponentHeartbeat,
    Connection,
    Dag,
    DagRun,
    DagRunAssetEvent,
    DagRunDeadline,
    DagScheduleAsset,
    DagScheduleAssetName,
    DagSource,
    DagVersion,
    EventReceiver,
    LogChunk,
    LoginFailure,
    ParseImportError,
    Pool,
    ReceiverDelivery,
    RevokedToken,
    TaskInstance,
    TaskInstanceHistory,
    TaskOutletAsset,
    TaskState,
    Trigger,
    User,
    Variable,
    Worker,
    XCom,
)
from airlock.db.state import transition

__all__ = [
    "DEFAULT_POOL_NAME",
    "DEFAULT_POOL_SLOTS",
    "RETURN_VALUE_KEY",
    "ApiToken",
    "Asset",
    "AssetDagRunQueue",
    "AssetEvent",
    "AssetState",
    "AssetWatcher",
    "Base",
    "Bundle",
    "BundleFile",
    "CallbackRequest",
    "ComponentHeartbeat",
    "Connection",
    "Dag",
    "DagRun",
    "DagRunAssetEvent",
    "DagRunDeadline",
    "DagScheduleAsset",
    "DagScheduleAssetName",
    "DagSource",
    "DagVersion",
    "EventReceiver",
    "LogChunk",
    "LoginFailure",
    "ParseImportError",
    "Pool",
    "ReceiverDelivery",
    "RevokedToken",
    "SecretBox",
    "SecretDecryptError",
    "StrEnumString",
    "TaskInstance",
    "TaskInstanceHistory",
    "TaskOutletAsset",
    "TaskState",
    "Trigger",
    "User",
    "UtcDateTime",
    "Variable",
    "Worker",
    "XCom",
    "alembic_config",
    "current",
    "downgrade",
    "generate_secret_key",
    "make_engine",
    "make_session_factory",
    "new_task_instance_id",
    "new_uuid7",
    "normalize_url",
    "transition",
    "upgrade",
    "upsert_insert",
    "utcnow",
]


def __getattr__(name: str) -> object:
    """Migrations import Alembic, which a serving process never needs: load them on first use."""
    if name in {"alembic_config", "current", "downgrade", "upgrade"}:
        from airlock.db import migrate

        return getattr(migrate, name)
    raise AttributeError(f"module 'airlock.db' has no attribute {name!r}")
