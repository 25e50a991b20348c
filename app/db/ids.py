"""Ids handed out before the row that carries them commits, never to be handed out again.

A code stream announces its issuance id (``X-Issuance-Id``) before the body, long before its transaction commits.
If the stream then fails, the id must stay spent. PostgreSQL sequences never go back. SQLite's do: even with
AUTOINCREMENT the counter (a row of ``sqlite_sequence``) is rolled back with the insert, so the next issuance would
get the failed one's id. ``reserve_id`` therefore takes the id in a short transaction of its own, committed before
the long one starts; the row is then inserted with that id (the table must be AUTOINCREMENT on SQLite, so that
inserts made without a reserved id also count from ``sqlite_sequence``).
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from app.db.engine import WRITE_OPTIONS

_SQLITE_NEXT = text("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = :table RETURNING seq")
_POSTGRES_NEXT = text("SELECT nextval(pg_get_serial_sequence(:table, 'id'))")


def reserve_id(engine: Engine, table: str) -> int:
    """The next id of ``table`` (an integer ``id`` primary key), spent for good whatever becomes of its row."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(conn.execute(_POSTGRES_NEXT, {"table": table}).scalar_one())
    if not table.isidentifier():
        raise ValueError(f"not a table name: {table!r}")
    # The counter row exists once the table has had a row; before that it starts from what the table holds.
    seed = text(
        f"INSERT INTO sqlite_sequence (name, seq) SELECT :table, (SELECT coalesce(max(id), 0) FROM {table}) "  # noqa: S608
        "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = :table)"
    )
    with engine.connect().execution_options(**WRITE_OPTIONS) as conn, conn.begin():
        conn.execute(seed, {"table": table})
        return int(conn.execute(_SQLITE_NEXT, {"table": table}).scalar_one())
