"""The schema the migrations build is exactly the one the models describe, on SQLite and on PostgreSQL (the scan
log's partitions on PostgreSQL aside: they are made by the migration and the service, not by the models)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine

from app.db.models import metadata
from app.db.scan_partitions import include_name


def test_migrations_and_models_agree(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name}), metadata)
    finally:
        engine.dispose()
    assert differences == []


def _partial_indexes_in(conn: Connection) -> dict[str, bool]:
    """Every index of the database by name: whether it has a WHERE (compare_metadata does not look at predicates)."""
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
    else:
        rows = conn.exec_driver_sql("SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index'")
    return {name: " WHERE " in definition.upper() for name, definition in rows}


def test_partial_indexes_are_partial_where_the_models_say(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            built = _partial_indexes_in(conn)
            dialect = conn.dialect.name
    finally:
        engine.dispose()
    declared = {
        index.name: index.dialect_options[dialect]["where"] is not None
        for table in metadata.tables.values()
        for index in table.indexes
    }
    assert any(declared.values())  # the check below compares something
    assert {name: built.get(name) for name in declared} == declared


@pytest.mark.postgres_only
def test_event_payload_compressed_by_lz4_where_the_server_has_it(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            has_lz4 = conn.exec_driver_sql(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
            ).scalar()
            method = conn.exec_driver_sql(
                "SELECT attcompression FROM pg_attribute WHERE attrelid = 'event'::regclass AND attname = 'payload'"
            ).scalar()
    finally:
        engine.dispose()
    assert method == ("l" if has_lz4 else "")
