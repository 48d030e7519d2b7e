"""Identifiers and paths a DAG processor uploads, checked at the Internal API over real HTTP
(issue 18, part 5): a path out of the bundle or an odd DAG id is a 422 naming the field, and
nothing is stored."""

from __future__ import annotations

import hashlib

import pytest

from airlock.core.tokens import TokenKind
from airlock.db import BundleFile, Dag, make_engine, make_session_factory
from airlock.models.codec import compress, dag_hash, encode_dag
from airlock.models.dag import SerializedDag
from airlock.models.internal import BundleSync, DagMetadata, DagUpload, ParsedFile
from airlock.sdk.api import ApiError, InternalClient, RetryPolicy
from tests.support.processes import ApiServer, Home


def sync(path: str, dag_id: str) -> BundleSync:
    encoded = encode_dag(SerializedDag(dag_id=dag_id, relative_fileloc=path))
    meta = DagMetadata(dag_id=dag_id, fileloc=f"/b/{path}", relative_fileloc=path)
    upload = DagUpload(metadata=meta, dag_hash=dag_hash(encoded), blob=compress(encoded))
    digest = hashlib.sha256(path.encode()).hexdigest()
    return BundleSync(files=[ParsedFile(relative_path=path, content_hash=digest, dags=[upload])])


@pytest.mark.parametrize(
    ("path", "dag_id", "field"),
    [
        ("../x.py", "ok_id", "relative_path"),
        ("/etc/passwd", "ok_id", "relative_path"),
        ("a/../../x.py", "ok_id", "relative_path"),
        ("ok.py", "../escape", "dag_id"),
        ("ok.py", "<script>", "dag_id"),
        ("ok.py", "two words", "dag_id"),
        ("ok.py", "line\nbreak", "dag_id"),
    ],
)
def test_bad_identifiers_are_422_naming_the_field(
    api: ApiServer, home: Home, path: str, dag_id: str, field: str
) -> None:
    token = home.token(TokenKind.SERVICE, "dp", role="dag-processor", bundles=["ids"])
    client = InternalClient(api.url, token, retry=RetryPolicy(attempts=1))
    with pytest.raises(ApiError) as refused:
        client.sync_bundle("ids", sync(path, dag_id))
    assert refused.value.status == 422
    assert field in refused.value.detail
    engine = make_engine(home.db_url)
    try:
        with make_session_factory(engine)() as session:
            assert session.get(Dag, dag_id) is None
            assert session.query(BundleFile).filter_by(bundle_name="ids").count() == 0
    finally:
        engine.dispose()


def test_deleting_a_path_out_of_the_bundle_is_422(api: ApiServer, home: Home) -> None:
    token = home.token(TokenKind.SERVICE, "dp", role="dag-processor", bundles=["ids"])
    client = InternalClient(api.url, token, retry=RetryPolicy(attempts=1))
    with pytest.raises(ApiError) as refused:
        client.sync_bundle("ids", BundleSync(deleted_files=["../../etc/passwd"]))
    assert refused.value.status == 422
    assert "deleted_files" in refused.value.detail
