from __future__ import annotations

import airlock.db


def test_exported_names_are_pinned():
    assert sorted(airlock.db.__all__) == sorted(
        [
            "DEFAULT_POOL_NAME",
            "DEFAULT_POOL_SLOTS",
            "RETURN_VALUE_KEY",
            "ApiToken",
            "Asset",
            "AssetDagRunQueue",
            "AssetEvent",
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
            "DagSource",
            "DagVersion",
            "LogChunk",
            "ParseImportError",
            "Pool",
            "RevokedToken",
            "SecretBox",
            "SecretDecryptError",
            "StrEnumString",
            "TaskInstance",
            "TaskInstanceHistory",
            "TaskOutletAsset",
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
            "upsert_insert",
            "transition",
            "upgrade",
            "utcnow",
        ]
    )
    assert all(hasattr(airlock.db, name) for name in airlock.db.__all__)
