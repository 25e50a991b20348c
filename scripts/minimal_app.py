"""The floor for bench_verify.py: a minimal FastAPI app doing one lookup in Passport's ``unit`` table; and for
bench_single_events.py: ``POST /rows`` inserts one row per request (its own transaction) in a table of its own, and
``POST /orm-rows`` does the same as FastAPI's own tutorial writes it ("SQL (Relational) Databases": a ``def``
endpoint in the thread pool, a pydantic body, a SQLAlchemy ``Session`` from a ``yield`` dependency, ``add``,
``commit``, ``refresh``, the row returned as a response model; SQLAlchemy's ORM in place of SQLModel, which is
a thin layer over it).

Same URL shape as the public verification route (``/01/{gtin}/10/{lot}/21/{serial}``, query ignored) so the very
same sample of scanned codes can be replayed against it. The ``async def`` endpoint runs on the event loop and does a
single indexed SELECT by (gtin, serial) on one plain connection (sqlite3 or psycopg, autocommit), then returns a
small JSON body. No signature check, no joins, no ORM, no pool.

Run: MINIMAL_DATABASE_URL=sqlite:////path/passport.db uvicorn --app-dir scripts minimal_app:app --no-access-log
     (or postgresql://user@host:port/db)
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Integer, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

DATABASE_URL = os.environ.get("MINIMAL_DATABASE_URL", "sqlite:///./passport.db")
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000")  # as Passport's connections


def _connect(url: str) -> Callable[[str, str], Any]:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        sql = "SELECT state FROM unit WHERE gtin = ? AND serial = ?"
        return lambda gtin, serial: conn.execute(sql, (gtin, serial)).fetchone()
    import psycopg

    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    pg = psycopg.connect(url, autocommit=True, prepare_threshold=0)
    pg_sql = "SELECT state FROM unit WHERE gtin = %s AND serial = %s"
    return lambda gtin, serial: pg.execute(pg_sql, (gtin, serial)).fetchone()


def _inserter(url: str) -> Callable[[int], Any]:
    """One INSERT per call, committed on its own, with the pragmas Passport's SQLite connections use."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], check_same_thread=False, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("CREATE TABLE IF NOT EXISTS minimal_row (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        return lambda n: conn.execute("INSERT INTO minimal_row (n) VALUES (?)", (n,))
    import psycopg

    pg = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True)
    pg.execute("CREATE TABLE IF NOT EXISTS minimal_row (id BIGSERIAL PRIMARY KEY, n INTEGER NOT NULL)")
    return lambda n: pg.execute("INSERT INTO minimal_row (n) VALUES (%s)", (n,))


class _Base(DeclarativeBase):
    pass


class OrmRow(_Base):
    __tablename__ = "minimal_orm_row"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class RowIn(BaseModel):
    n: int


class RowOut(RowIn):
    model_config = ConfigDict(from_attributes=True)
    id: int


def _orm_engine(url: str) -> Any:
    """The tutorial's engine, with the pragmas Passport's SQLite connections use (as ``_inserter``)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            for pragma in SQLITE_PRAGMAS:
                dbapi_connection.execute(f"PRAGMA {pragma}")

    else:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    _Base.metadata.create_all(engine)
    return engine


lookup = _connect(DATABASE_URL)
insert = _inserter(DATABASE_URL)
orm_engine = _orm_engine(DATABASE_URL)
app = FastAPI(title="minimal lookup")


def get_session() -> Iterator[Session]:
    with Session(orm_engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@app.get("/healthz")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/01/{gtin}/10/{lot}/21/{serial}")
async def unit(gtin: str, lot: str, serial: str) -> Response:
    row = lookup(gtin, serial)
    if row is None:
        return Response(json.dumps({"found": False}), status_code=404, media_type="application/json")
    return Response(
        json.dumps({"found": True, "gtin": gtin, "serial": serial, "state": row[0]}), media_type="application/json"
    )


@app.post("/rows", status_code=201)
async def add_row(body: dict[str, int]) -> dict[str, bool]:
    insert(int(body.get("n", 0)))
    return {"ok": True}


@app.post("/orm-rows", status_code=201, response_model=RowOut)
def add_orm_row(row: RowIn, session: SessionDep) -> OrmRow:
    stored = OrmRow(n=row.n)
    session.add(stored)
    session.commit()
    session.refresh(stored)
    return stored
