"""The DAG cache decodes a version once and evicts the least recently used."""

from __future__ import annotations

import pytest

from airlock.scheduling import DagCache, DagVersionNotFound, TaskNotInDag

from .conftest import Env, make_dag, task


def test_decodes_once_and_evicts_the_least_recently_used(sqlite_env: Env) -> None:
    cache = DagCache(max_entries=2)
    v1 = sqlite_env.install(make_dag("d1", [task("a")]))
    v2 = sqlite_env.install(make_dag("d2", [task("b")]))
    v3 = sqlite_env.install(make_dag("d3", [task("c")]))
    with sqlite_env.sessions() as session:
        first = cache.get(session, v1)
        assert cache.get(session, v1) is first
        assert cache.task(session, v2, "b").task_id == "b"
        cache.get(session, v1)  # v1 is now the most recent
        cache.get(session, v3)  # evicts v2
        assert len(cache) == 2
        assert cache.get(session, v1) is first
        with pytest.raises(TaskNotInDag, match="'zzz' is not defined in version"):
            cache.task(session, v1, "zzz")
        with pytest.raises(DagVersionNotFound):
            cache.get(session, 999)
