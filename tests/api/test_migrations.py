"""The schema the migrations build is exactly the one the models describe, on SQLite and on PostgreSQL (the scan
log's partitions on PostgreSQL aside: they are made by the migration and the service, not by the models)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

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
