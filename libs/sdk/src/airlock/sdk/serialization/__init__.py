"""DAG → ``SerializedDag``: the only form of a DAG the control plane ever sees."""

from airlock.sdk.serialization.serialize import listed_runs, serialize_dag, serialize_task

__all__ = ["listed_runs", "serialize_dag", "serialize_task"]
