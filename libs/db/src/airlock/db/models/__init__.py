"""Every table of the metadata database; importing this module registers them on ``Base``."""

from airlock.db.models.asset import (
    Asset,
    AssetDagRunQueue,
    AssetEvent,
    DagRunAssetEvent,
    DagScheduleAsset,
    DagScheduleAssetName,
    TaskOutletAsset,
)
from airlock.db.models.auth import ApiToken, LoginFailure, RevokedToken, User
from airlock.db.models.bundle import Bundle, BundleFile, ParseImportError
from airlock.db.models.dag import Dag, DagSource, DagVersion
from airlock.db.models.dag_run import DagRun
from airlock.db.models.pool import DEFAULT_POOL_NAME, DEFAULT_POOL_SLOTS, Pool
from airlock.db.models.receiver import EventReceiver, ReceiverDelivery
from airlock.db.models.runtime import (
    CallbackRequest,
    ComponentHeartbeat,
    DagRunDeadline,
    LogChunk,
    Worker,
)
from airlock.db.models.secrets import Connection, Variable
from airlock.db.models.state_store import AssetState, TaskState
from airlock.db.models.task_instance import TaskInstance, TaskInstanceHistory
from airlock.db.models.trigger import Trigger
from airlock.db.models.watcher import AssetWatcher
from airlock.db.models.xcom import RETURN_VALUE_KEY, XCom

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
    "TaskInstance",
    "TaskInstanceHistory",
    "TaskOutletAsset",
    "TaskState",
    "Trigger",
    "User",
    "Variable",
    "Worker",
    "XCom",
]
