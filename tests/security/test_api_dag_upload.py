"""Hostile DAG uploads against a real Internal API, and a bad stored DAG against a real scheduler.

A DAG file runs in the DAG processor's parser and can patch the serializer, so whatever reaches
``PUT /internal/bundles/{b}/dags`` may be crafted. Each attack here is one file of a batch whose
other file is honest: the attack is refused (an import error naming the DAG, or a 4xx for the
whole request when the request itself is the bomb) and the honest DAG is stored. A blob that
reached the DB before these checks existed is that DAG's error for the scheduler, which keeps
scheduling the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import update

from airlock.core.tokens import TokenKind
from airlock.db import Dag, DagRun, DagVersion, ParseImportError, make_engine, make_session_factory
from airlock.models.codec import compress, dag_hash, encode_dag
from airlock.models.dag import DeltaSchedule, SerializedDag, SerializedTaskGroup
from airlock.models.internal import BundleSync, DagMetadata, DagUpload, ParsedFile
from airlock.sdk.api import ApiError, InternalClient, RetryPolicy
from tests.support.dags import install_dag, make_dag, task
from tests.support.processes import ApiServer, Home, make_home

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def client_for(api: ApiServer, home: Home, bundle: str) -> InternalClient:
    token = home.token(TokenKind.SERVICE, "dp", role="dag-processor", bundles=[bundle])
    return InternalClient(api.url, token, retry=RetryPolicy(attempts=1))


def raw_upload(dag_id: str, content: bytes) -> DagUpload:
    """An upload of ``content`` as it is (hash and frame honest, the JSON inside anything)."""
    meta = DagMetadata(dag_id=dag_id, fileloc=f"/b/{dag_id}.py", relative_fileloc=f"{dag_id}.py")
    return DagUpload(metadata=meta, dag_hash=dag_hash(content), blob=compress(content))


def dag_upload(dag: SerializedDag, dag_id: str | None = None) -> DagUpload:
    return raw_upload(dag_id or dag.dag_id, encode_dag(dag))


def file_of(upload: DagUpload) -> ParsedFile:
    path = upload.metadata.relative_fileloc
    return ParsedFile(
        relative_path=path, content_hash=hashlib.sha256(path.encode()).hexdigest(), dags=[upload]
    )


#: Blobs a patched serializer can upload, and the words the import error must hold.
HOSTILE: dict[str, tuple[DagUpload, str]] = {
    "empty-object": (raw_upload("h_empty", b"{}"), "not a serialized DAG"),
    "not-json": (raw_upload("h_notjson", b"\xff\xfe<html>"), "not a serialized DAG"),
    "array": (raw_upload("h_array", b"[1, 2, 3]"), "not a serialized DAG"),
    "cycle": (
        dag_upload(make_dag("h_cycle", [task("a", ["c"]), task("b", ["a"]), task("c", ["b"])])),
        "cycle",
    ),
    "self-loop": (dag_upload(make_dag("h_self", [task("a", ["a"])])), "cycle"),
    "other-dag-id": (dag_upload(make_dag("someone_else", [task("a")]), "h_other"), "someone_else"),
    "bad-task-id": (dag_upload(make_dag("h_taskid", [task("a b/../c")])), "is not an id"),
    "long-task-id": (dag_upload(make_dag("h_long", [task("t" * 300)])), "is not an id"),
    "duplicate-task": (dag_upload(make_dag("h_dup", [task("a"), task("a")])), "twice"),
    "dangling-upstream": (
        dag_upload(
            msgspec.structs.replace(
                make_dag("h_dangle", [task("a")]), tasks=[task("a"), task("b", ["ghost"])]
            )
        ),
        "unknown upstream",
    ),
    "one-sided-edge": (
        dag_upload(
            msgspec.structs.replace(
                make_dag("h_onesided", [task("a"), task("b")]), tasks=[task("a"), task("b", ["a"])]
            )
        ),
        "lacks it downstream",
    ),
    "unknown-group": (
        dag_upload(make_dag("h_group", [task("a", group_id="nowhere")])),
        "unknown group",
    ),
    "group-child": (
        dag_upload(
            make_dag(
                "h_child",
                [task("a")],
                task_groups=[SerializedTaskGroup(group_id="g", children=["a", "ghost"])],
            )
        ),
        "unknown child",
    ),
    "too-many-tasks": (
        dag_upload(make_dag("h_huge", [task(f"t{i}") for i in range(10_001)])),
        "10001 tasks",
    ),
}


def test_hostile_dags_are_import_errors_and_the_rest_of_the_batch_is_stored(
    api: ApiServer, home: Home
) -> None:
    client = client_for(api, home, "hostile")
    tried = refused = 0
    for name, (upload, says) in HOSTILE.items():
        honest = dag_upload(
            make_dag(f"honest_{name.replace('-', '_')}", [task("a"), task("b", ["a"])])
        )
        result = client.sync_bundle("hostile", BundleSync(files=[file_of(upload), file_of(honest)]))
        tried += 1
        outcomes = {d.dag_id: d for d in result.dags}
        bad = outcomes[upload.metadata.dag_id]
        assert bad.outcome == "rejected", name
        assert says in (bad.reason or ""), (name, bad.reason)
        assert upload.metadata.dag_id in (bad.reason or "")
        assert outcomes[honest.metadata.dag_id].outcome == "created", name
        assert result.import_errors == 1
        refused += 1
    print(f"hostile DAG uploads: tried {tried}, refused {refused}")
    assert (tried, refused) == (len(HOSTILE), len(HOSTILE))


def test_a_bad_new_version_keeps_the_last_good_one(api: ApiServer, home: Home) -> None:
    client = client_for(api, home, "keep")
    good = dag_upload(make_dag("kept", [task("a")]))
    assert (
        client.sync_bundle("keep", BundleSync(files=[file_of(good)])).dags[0].outcome == "created"
    )
    cyclic = dag_upload(make_dag("kept", [task("a", ["b"]), task("b", ["a"])]))
    result = client.sync_bundle("keep", BundleSync(files=[file_of(cyclic)]))
    assert result.dags[0].outcome == "rejected"
    engine = make_engine(home.db_url)
    try:
        with make_session_factory(engine)() as session:
            dag = session.get(Dag, "kept")
            assert dag is not None
            assert not dag.is_stale
            assert dag.has_import_errors
            versions = session.query(DagVersion).filter_by(dag_id="kept").all()
            assert [v.content_hash for v in versions] == [good.dag_hash]
    finally:
        engine.dispose()


def _frame(declared: int, payload: int) -> bytes:
    """A well-formed zstd frame header declaring ``declared`` bytes, then one raw block of
    ``payload`` bytes: cheap to send, and its header claims what its bytes cannot hold."""
    header = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", declared)
    return header + ((payload << 3) | 1).to_bytes(3, "little") + b"x" * payload


def test_declared_sizes_the_bytes_cannot_hold_are_refused_before_decompressing(
    api: ApiServer, home: Home
) -> None:
    client = client_for(api, home, "bombs")
    # The reported attack: a 96 KiB request of 50 blobs each declaring 64 MB.
    bombs = [
        msgspec.structs.replace(raw_upload(f"bomb{i}", b"{}"), blob=_frame(64_000_000, 1900))
        for i in range(50)
    ]
    started = time.monotonic()
    with pytest.raises(ApiError) as refused:
        client.sync_bundle("bombs", BundleSync(files=[file_of(b) for b in bombs]))
    assert refused.value.status == 422
    assert "more than 250 times its size" in refused.value.detail
    assert time.monotonic() - started < 2

    # Plausible one by one (250x), too much together: the request's total is bounded (413).
    heavy = [
        msgspec.structs.replace(raw_upload(f"heavy{i}", b"{}"), blob=_frame(25_000_000, 100_000))
        for i in range(11)
    ]
    with pytest.raises(ApiError) as too_much:
        client.sync_bundle("bombs", BundleSync(files=[file_of(b) for b in heavy]))
    assert too_much.value.status == 413
    assert "one upload may carry" in too_much.value.detail


@pytest.fixture
def own_home(tmp_path: Path) -> Home:
    return make_home(tmp_path, f"sqlite:///{tmp_path / 'airlock.db'}")


def test_scheduler_treats_a_bad_stored_dag_as_that_dags_error(
    own_home: Home, started: Callable[[Home, str], ApiServer]
) -> None:
    """DAGs stored before the Internal API checked them: one whose blob is ``{}``, one with a
    cycle. The scheduler flags them, shows why, and schedules the good DAG."""
    every_minute = {"schedule": DeltaSchedule(seconds=60), "start_date": START}
    engine = make_engine(own_home.db_url)
    try:
        with make_session_factory(engine)() as session:
            cyclic = [task("a", ["b"]), task("b", ["a"])]
            install_dag(session, make_dag("good", [task("a")], **every_minute), bundle="b")
            install_dag(session, make_dag("cyclic", cyclic, **every_minute), bundle="b")
            install_dag(session, make_dag("empty", [task("a")], **every_minute), bundle="b")
            session.execute(
                update(DagVersion).where(DagVersion.dag_id == "empty").values(blob=compress(b"{}"))
            )
            session.commit()
    finally:
        engine.dispose()
    for _ in range(2):
        passed = own_home.airlock("scheduler", "--once", check=False)
        assert passed.returncode == 0, passed.stderr
    web = started(own_home, "web")
    token = own_home.token(TokenKind.USER, "ann", roles=["viewer"])
    with web.client() as http:
        http.headers["Authorization"] = f"Bearer {token}"
        listed = http.get("/api/v1/importErrors/").json()["import_errors"]
        flagged = http.get("/api/v1/dags/", params={"has_import_errors": True}).json()
    shown = {e["filename"]: e["stack_trace"] for e in listed}
    assert "'cyclic'" in shown["cyclic.py"]
    assert "cycle" in shown["cyclic.py"]
    assert "cannot be read" in shown["empty.py"]
    assert sorted(d["dag_id"] for d in flagged["dags"]) == ["cyclic", "empty"]
    engine = make_engine(own_home.db_url)
    try:
        with make_session_factory(engine)() as session:
            runs = {r.dag_id for r in session.query(DagRun).all()}
            errors = session.query(ParseImportError).count()
    finally:
        engine.dispose()
    assert runs == {"good"}
    assert errors == 2
