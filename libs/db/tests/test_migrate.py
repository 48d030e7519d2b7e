from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from airlock.db import Base, Pool, alembic_config, current, downgrade, make_engine, upgrade
from airlock.db.migrate import COMPARE_OPTIONS


def schema_differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=COMPARE_OPTIONS)
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def schema_snapshot(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        snapshot: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            snapshot[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                ],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (
                        fk["name"] or "",
                        fk["constrained_columns"],
                        fk["referred_table"],
                        fk["options"].get("ondelete"),
                    )
                    for fk in inspector.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (ix["name"] or "", ix["column_names"]) for ix in inspector.get_indexes(table)
                ),
                "uniques": sorted(
                    (uq["name"] or "", uq["column_names"])
                    for uq in inspector.get_unique_constraints(table)
                ),
            }
        return snapshot
    finally:
        engine.dispose()


def test_revisions_are_numbered_and_linear():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    revisions = list(script.walk_revisions())
    assert script.get_heads() == [revisions[0].revision]
    assert revisions[-1].revision == "0001"
    assert all(re.fullmatch(r"\d{4}", rev.revision) for rev in revisions)


def test_head_matches_the_models(migrated_url: str):
    assert (
        current(migrated_url)
        == ScriptDirectory.from_config(alembic_config(migrated_url)).get_current_head()
    )
    assert schema_differences(migrated_url) == []


def test_downgrade_to_base_and_back_gives_the_same_schema(migrated_url: str):
    before = schema_snapshot(migrated_url)
    downgrade(migrated_url, "base")
    assert current(migrated_url) is None
    assert set(schema_snapshot(migrated_url)) == {"alembic_version"}
    upgrade(migrated_url)
    assert schema_snapshot(migrated_url) == before
    assert schema_differences(migrated_url) == []


def test_upgrade_creates_the_default_pool(migrated_url: str):
    engine = make_engine(migrated_url)
    with engine.connect() as connection:
        pools = connection.execute(select(Pool.name, Pool.slots, Pool.include_deferred)).all()
    engine.dispose()
    assert [tuple(row) for row in pools] == [("default_pool", 128, False)]


def test_upgrading_twice_is_a_no_op(migrated_url: str):
    upgrade(migrated_url)
    assert schema_differences(migrated_url) == []


def test_the_comparison_notices_a_missing_index(sqlite_url: str):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_dag_run_state")
    engine.dispose()
    assert [diff[0] for diff in schema_differences(sqlite_url)] == ["add_index"]
