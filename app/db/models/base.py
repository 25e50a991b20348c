"""The declarative base, the naming convention of constraints and indexes, and the never-reused-ids option."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


# Tables whose ids are published (URLs, headers, a receiver's deduplication key): on SQLite, AUTOINCREMENT so that
# an id is never handed out again after its row was deleted (PostgreSQL sequences never go back). A rolled-back
# insert still frees its id on SQLite; ids published before their commit are reserved apart (app/db/ids.py).
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    metadata = metadata
