"""DAG → ``SerializedDag``: the only form of a DAG the control plane ever sees."""

from airlock.sdk.serialization.serialize import serialize_dag, serialize_task

__all__ = ["serialize_dag", "serialize_task"]
