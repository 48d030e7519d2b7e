"""The Internal API's DAG-processor endpoints over HTTP: versions by hash, bundle ownership,
import errors, stale DAGs, blob checks, and bundle-scoped variables and connections."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import select

from airlock.core.secrets_key import read_secrets_keys
from airlock.core.tokens import TokenKind
from airlock.db import (
    Connection,
    Dag,
    DagVersion,
    SecretBox,
    Variable,
    make_engine,
    make_session_factory,
)
from airlock.models.codec import compress, dag_hash, encode_dag
from airlock.models.dag import SerializedDag
from airlock.models.internal import BundleSync, DagMetadata, DagUpload, ParsedFile
from airlock.sdk.api import ApiError, InternalClient, RetryPolicy
from tests.support.processes import ApiServer, Home, make_home


def client_for(
    api: ApiServer, home: Home, *bundles: str, role: str = "dag-processor"
) -> InternalClient:
    token = home.token(TokenKind.SERVICE, "dp", role=role, bundles=list(bundles))
    return InternalClient(api.url, token, retry=RetryPolicy(attempts=1))


def upload(dag_id: str, path: str, description: str = "") -> DagUpload:
    encoded = encode_dag(
        SerializedDag(dag_id=dag_id, relative_fileloc=path, description=description or None)
    )
    meta = DagMetadata(dag_id=dag_id, fileloc=f"/bundle/{path}", relative_fileloc=path, tags=["t"])
    return DagUpload(metadata=meta, dag_hash=dag_hash(encoded), blob=compress(encoded))


def parsed(path: str, *dags: DagUpload, error: str | None = None, text: str = "x") -> ParsedFile:
    return ParsedFile(
        relative_path=path,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        dags=list(dags),
        import_error=error,
        source=text,
    )


def db_rows(home: Home, model: Any, **where: Any) -> list[Any]:
    engine = make_engine(home.db_url)
    try:
        with make_session_factory(engine)() as session:
            return list(session.scalars(select(model).filter_by(**where)).all())
    finally:
        engine.dispose()


def test_same_hash_makes_no_new_version_and_new_hash_does(api: ApiServer, home: Home) -> None:
    client = client_for(api, home, "sync-a")
    first = client.sync_bundle(
        "sync-a", BundleSync(files=[parsed("etl.py", upload("sync_etl", "etl.py"))])
    )
    assert [(d.outcome, d.version_number) for d in first.dags] == [("created", 1)]
    again = client.sync_bundle(
        "sync-a", BundleSync(files=[parsed("etl.py", upload("sync_etl", "etl.py"))])
    )
    assert [(d.outcome, d.version_number) for d in again.dags] == [("unchanged", 1)]
    changed = client.sync_bundle(
        "sync-a", BundleSync(files=[parsed("etl.py", upload("sync_etl", "etl.py", "v2"), text="y")])
    )
    assert [(d.outcome, d.version_number) for d in changed.dags] == [("created", 2)]
    versions = db_rows(home, DagVersion, dag_id="sync_etl")
    assert sorted(v.version_number for v in versions) == [1, 2]
    assert all(v.blob[:4] == b"\x28\xb5\x2f\xfd" for v in versions), "blob stored as uploaded"
    listed = {f.relative_path: f for f in client.list_bundle_files("sync-a")}
    assert listed["etl.py"].dag_ids == ["sync_etl"]


def test_dag_id_of_another_bundle_is_an_import_error_not_an_overwrite(
    api: ApiServer, home: Home
) -> None:
    owner = client_for(api, home, "own-a")
    owner.sync_bundle("own-a", BundleSync(files=[parsed("x.py", upload("shared_id", "x.py"))]))
    intruder = client_for(api, home, "own-b")
    result = intruder.sync_bundle(
        "own-b", BundleSync(files=[parsed("y.py", upload("shared_id", "y.py", "evil"))])
    )
    assert result.dags[0].outcome == "rejected"
    assert "already defined by bundle 'own-a'" in (result.dags[0].reason or "")
    assert result.import_errors == 1
    (dag,) = db_rows(home, Dag, dag_id="shared_id")
    assert dag.bundle_name == "own-a"
    assert len(db_rows(home, DagVersion, dag_id="shared_id")) == 1


def test_broken_file_keeps_last_good_version_and_deleted_file_goes_stale(
    api: ApiServer, home: Home
) -> None:
    client = client_for(api, home, "life")
    client.sync_bundle("life", BundleSync(files=[parsed("a.py", upload("life_a", "a.py"))]))
    broken = client.sync_bundle(
        "life", BundleSync(files=[parsed("a.py", error="SyntaxError: oops", text="bad")])
    )
    assert broken.import_errors == 1
    (dag,) = db_rows(home, Dag, dag_id="life_a")
    assert dag.has_import_errors
    assert not dag.is_stale
    gone = client.sync_bundle("life", BundleSync(deleted_files=["a.py"]))
    assert gone.stale_dags == ["life_a"]
    (dag,) = db_rows(home, Dag, dag_id="life_a")
    assert dag.is_stale
    assert client.list_bundle_files("life") == []


def test_dag_removed_from_a_file_goes_stale(api: ApiServer, home: Home) -> None:
    client = client_for(api, home, "rm")
    client.sync_bundle(
        "rm", BundleSync(files=[parsed("f.py", upload("rm_1", "f.py"), upload("rm_2", "f.py"))])
    )
    result = client.sync_bundle(
        "rm", BundleSync(files=[parsed("f.py", upload("rm_1", "f.py"), text="z")])
    )
    assert result.stale_dags == ["rm_2"]


def test_other_bundle_is_403(api: ApiServer, home: Home) -> None:
    client = client_for(api, home, "mine")
    with pytest.raises(ApiError) as refused:
        client.sync_bundle("theirs", BundleSync(files=[parsed("a.py", upload("t", "a.py"))]))
    assert refused.value.status == 403
    with pytest.raises(ApiError) as listing:
        client.list_bundle_files("theirs")
    assert listing.value.status == 403


def test_corrupt_blob_is_422_naming_the_dag(api: ApiServer, home: Home) -> None:
    bad = msgspec.structs.replace(upload("corrupt", "c.py"), blob=b"not zstd at all")
    with pytest.raises(ApiError) as refused:
        client_for(api, home, "blobs").sync_bundle("blobs", BundleSync(files=[parsed("c.py", bad)]))
    assert refused.value.status == 422
    assert "'corrupt'" in refused.value.detail
    assert db_rows(home, Dag, dag_id="corrupt") == []


def test_blob_declaring_a_huge_size_is_413_without_decompressing(
    api: ApiServer, home: Home
) -> None:
    # A zstd frame header declaring 1 TB of content (single-segment, 8-byte size field).
    header = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", 10**12)
    bomb = msgspec.structs.replace(upload("bomb", "b.py"), blob=header + b"\x01\x00\x00")
    with pytest.raises(ApiError) as refused:
        client_for(api, home, "blobs").sync_bundle(
            "blobs", BundleSync(files=[parsed("b.py", bomb)])
        )
    assert refused.value.status == 413
    assert "'bomb'" in refused.value.detail


def test_variables_and_connections_are_bundle_scoped(api: ApiServer, home: Home) -> None:
    box = SecretBox(read_secrets_keys(home.path / "keys" / "secrets.key"))
    engine = make_engine(home.db_url)
    with make_session_factory(engine).begin() as session:
        for key, bundle in [
            ("global_var", None),
            ("team_a_var", "team-a"),
            ("team_b_var", "team-b"),
        ]:
            variable = Variable(key=key, bundle_name=bundle)
            variable.set_value(f"value of {key}", box)
            session.add(variable)
        conn = Connection(
            conn_id="warehouse", conn_type="postgres", host="db", login="u", bundle_name="team-a"
        )
        conn.set_password("s3cret", box)
        session.add(conn)
    engine.dispose()
    client = client_for(api, home, "team-a")
    assert client.get_variable("team-a", "global_var") == "value of global_var"
    assert client.get_variable("team-a", "team_a_var") == "value of team_a_var"
    assert client.get_variable("team-a", "team_b_var") is None, "another team's variable is a 404"
    connection = client.get_connection("team-a", "warehouse")
    assert connection is not None
    assert connection.password == "s3cret"
    other = client_for(api, home, "team-b")
    assert other.get_connection("team-b", "warehouse") is None
    with pytest.raises(ApiError) as refused:
        other.get_variable("team-a", "team_a_var")
    assert refused.value.status == 403


def test_hash_that_does_not_match_the_blob_is_422(api: ApiServer, home: Home) -> None:
    liar = msgspec.structs.replace(upload("liar", "l.py"), dag_hash="0" * 64)
    with pytest.raises(ApiError) as refused:
        client_for(api, home, "blobs").sync_bundle(
            "blobs", BundleSync(files=[parsed("l.py", liar)])
        )
    assert refused.value.status == 422
    assert "does not match" in refused.value.detail
    assert "'liar'" in refused.value.detail


def test_same_dag_id_in_two_files_of_one_batch_rejects_the_second(
    api: ApiServer, home: Home
) -> None:
    client = client_for(api, home, "twins")
    result = client.sync_bundle(
        "twins",
        BundleSync(
            files=[
                parsed("a.py", upload("twin", "a.py")),
                parsed("b.py", upload("twin", "b.py", "other"), text="b"),
            ]
        ),
    )
    outcomes = {d.relative_path: d.outcome for d in result.dags}
    assert outcomes == {"a.py": "created", "b.py": "rejected"}
    assert result.import_errors == 1


@pytest.mark.postgres
def test_sync_on_postgres(
    postgres_url: str, tmp_path: Path, started: Callable[[Home, str], ApiServer]
) -> None:
    home = make_home(tmp_path, postgres_url)
    server = started(home, "internal")
    client = client_for(server, home, "pg")
    batch = BundleSync(
        files=[parsed(f"f{i}.py", upload(f"pg_{i}", f"f{i}.py"), text=str(i)) for i in range(20)]
    )
    first = client.sync_bundle("pg", batch)
    assert {d.outcome for d in first.dags} == {"created"}
    second = client.sync_bundle("pg", batch)
    assert {d.outcome for d in second.dags} == {"unchanged"}
    assert len(client.list_bundle_files("pg", page_size=7)) == 20
    gone = client.sync_bundle("pg", BundleSync(deleted_files=["f0.py", "f1.py"]))
    assert gone.stale_dags == ["pg_0", "pg_1"]
