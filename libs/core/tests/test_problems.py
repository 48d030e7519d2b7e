"""Database errors that are not bugs get their own problem: a database that is down or busy is a
503 the client may retry, a value the database cannot take is a 400. Real drivers, real errors.
A datetime without a time zone is the same 422 from a body and from a query string."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar, get, post
from litestar.params import FromQuery, JSONBody
from litestar.testing import TestClient
from sqlalchemy import create_engine, text

from airlock.core.http.problems import EXCEPTION_HANDLERS, require_aware
from airlock.models.types import AwareDatetime


def _client(handler: object) -> TestClient[Litestar]:
    app = Litestar(route_handlers=[handler], exception_handlers=EXCEPTION_HANDLERS)  # type: ignore[list-item]
    return TestClient(app)


def test_an_unreachable_database_is_a_503_to_retry() -> None:
    @get("/q", sync_to_thread=True)
    def query() -> str:
        engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return "unreachable"

    with _client(query) as client:
        response = client.get("/q")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"].endswith("/database-unavailable")


def test_a_locked_sqlite_database_is_a_503_to_retry(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")

    @get("/q", sync_to_thread=True)
    def query() -> str:
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
        return "written"

    try:
        with _client(query) as client:
            response = client.get("/q")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503
    assert "INSERT" not in response.text


@pytest.mark.postgres
def test_a_value_the_database_cannot_take_is_a_400_naming_why(postgres_url: str) -> None:
    engine = create_engine(postgres_url)

    @get("/q", sync_to_thread=True)
    def query() -> str:
        with engine.connect() as connection:
            connection.execute(text("SELECT CAST(:value AS text)"), {"value": "a\x00b"})
        return "stored"

    with _client(query) as client:
        response = client.get("/q")
    engine.dispose()
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"].endswith("/bad-value")
    assert "NUL" in body["detail"]
    assert "SELECT" not in body["detail"]


class _Window(msgspec.Struct):
    start: AwareDatetime


@pytest.mark.parametrize("where", ["body", "query"])
def test_a_naive_datetime_is_the_same_422_in_a_body_and_a_query(where: str) -> None:
    @post("/body", sync_to_thread=False)
    def in_body(data: JSONBody[_Window]) -> str:
        return data.start.isoformat()

    @get("/query", sync_to_thread=False)
    def in_query(start: FromQuery[dt.datetime]) -> str:
        return str(require_aware(start, "start"))

    app = Litestar(route_handlers=[in_body, in_query], exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app) as client:
        if where == "body":
            response = client.post("/body", json={"start": "2026-05-01T12:00:00"})
        else:
            response = client.get("/query", params={"start": "2026-05-01T12:00:00"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "https://airlock.dev/problems/naive-datetime"
    assert problem["detail"].startswith("start has no time zone; send it with an offset")
    assert [(e["key"], e["source"]) for e in problem["errors"]] == [("start", where)]
