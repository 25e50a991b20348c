"""Alembic environment: the database URL comes from the caller's config or PASSPORT_DATABASE_URL."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import event

from app.config import Settings
from app.db.engine import make_engine
from app.db.models import metadata
from app.db.scan_partitions import include_name

config = context.config
url = config.get_main_option("sqlalchemy.url") or Settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=url, target_metadata=metadata, literal_binds=True, render_as_batch=True, include_name=include_name
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=metadata, render_as_batch=True, include_name=include_name
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        # SQLite changes a table by rebuilding it (batch mode): dropping the old table must not be refused, nor
        # cascade, because of the rows that refer to it. Its documented procedure: foreign keys off (set outside
        # any transaction, so on connecting), the changes in one transaction, then foreign_key_check before commit.
        event.listen(engine, "connect", _foreign_keys_off)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True, include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()
            if engine.dialect.name == "sqlite":
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migrations left rows whose foreign keys point nowhere: {broken[:10]}")
    engine.dispose()


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
