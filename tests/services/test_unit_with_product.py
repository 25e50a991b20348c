"""``lock_unit_with_product`` (app/db/custody.py): one fetched row holds the unit's columns (``_ROW_COLUMNS``) then
its product's category and manufacturer, split where the unit's columns end. On SQLite and on PostgreSQL its answer
is what a plain ORM read of the unit and the product gives, every column in its place: a unit whose columns are all
set and all different, so a row split one column off (a column added to the list but not to the split) cannot pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.db import custody
from app.db.custody import ProductRow, UnitRow, lock_unit_with_product
from app.db.engine import make_engine, make_sessionmaker
from app.db.models import Batch, Container, Issuance, Product, Unit
from app.services import orgs
from tests.helpers import GTIN, SSCC_CASE_1

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
OTHER_GTIN = "09506000134369"


@dataclass
class Stock:
    sessions: sessionmaker[Session]
    maker: str
    other_maker: str
    shop: str


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _org(session: Session, name: str, role: str) -> str:
    org, _ = orgs.create_org(session, name=name, role=role, licensed_from=date(2026, 1, 1))
    return org.id


@pytest.fixture
def stock(engine: Engine) -> Stock:
    """Two products of two makers, each with a lot and units; unit P1 of the first in transit to the shop inside a
    case, every column of its row set (P2 as issued, its custody columns empty)."""
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        maker = _org(session, "Maker", "manufacturer")
        other_maker = _org(session, "Other maker", "manufacturer")
        shop = _org(session, "Shop", "retailer")
        for gtin, category, by in ((GTIN, "drug_otc", maker), (OTHER_GTIN, "device", other_maker)):
            session.add(
                Product(gtin=gtin, name=f"Product {gtin}", category=category, manufacturer_id=by, created_at=NOW)
            )
        session.flush()
        for gtin in (GTIN, OTHER_GTIN):
            batch = Batch(
                gtin=gtin,
                lot=f"LOT-{gtin[-3:]}",
                manufactured_on=date(2026, 1, 1),
                expires_on=date(2028, 1, 1),
                created_at=NOW,
            )
            session.add(batch)
            session.flush()
            issuance = Issuance(batch_id=batch.id, key_tag=None, count=2, created_at=NOW - timedelta(days=1))
            session.add(issuance)
            session.flush()
            session.add(Unit(gtin=gtin, serial="P2", batch_id=batch.id, issuance_id=issuance.id))
            if gtin == GTIN:
                session.add(
                    Container(sscc=SSCC_CASE_1, state="in_transit", holder_id=maker, to_id=shop, created_at=NOW)
                )
                session.flush()
                session.add(
                    Unit(
                        gtin=gtin,
                        serial="P1",
                        batch_id=batch.id,
                        issuance_id=issuance.id,
                        state="in_transit",
                        holder_id=maker,
                        to_id=shop,
                        previous="held",
                        container_sscc=SSCC_CASE_1,
                    )
                )
    return Stock(sessions, maker, other_maker, shop)


def _orm_read(stock: Stock, key: tuple[str, str]) -> tuple[dict[str, object], ProductRow]:
    with stock.sessions() as session:
        unit = session.scalar(select(Unit).where(Unit.gtin == key[0], Unit.serial == key[1]))
        assert unit is not None
        product = session.get(Product, key[0])
        assert product is not None
        return (
            {f.name: getattr(unit, f.name) for f in fields(UnitRow)},
            ProductRow(product.gtin, product.category, product.manufacturer_id),
        )


def _as_dict(row: UnitRow) -> dict[str, object]:
    return {f.name: getattr(row, f.name) for f in fields(UnitRow)}


def test_the_row_columns_are_the_unit_rows_fields_and_the_unit_tables_columns():
    names = custody._ROW_COLUMNS.split(", ")
    assert names == [f.name for f in fields(UnitRow)]
    assert names == [c.name for c in Unit.__table__.columns]
    assert custody._ROW_WIDTH == len(names)


@pytest.mark.parametrize("key", [(GTIN, "P1"), (GTIN, "P2"), (OTHER_GTIN, "P2")])
def test_the_unit_and_its_product_are_what_the_orm_reads(stock: Stock, key: tuple[str, str]) -> None:
    expected_unit, expected_product = _orm_read(stock, key)
    with stock.sessions.begin() as session:
        units, product = lock_unit_with_product(session, key)
    assert list(units) == [key]
    assert _as_dict(units[key]) == expected_unit
    assert product == expected_product


def test_every_column_of_the_fully_set_unit_is_in_its_place(stock: Stock) -> None:
    """Spelled out, not only compared with the ORM: the custody columns and the product's two fields."""
    with stock.sessions.begin() as session:
        units, product = lock_unit_with_product(session, (GTIN, "P1"))
    row = units[(GTIN, "P1")]
    assert (row.gtin, row.serial, row.state) == (GTIN, "P1", "in_transit")
    assert (row.holder_id, row.to_id, row.previous, row.container_sscc) == (
        stock.maker,
        stock.shop,
        "held",
        SSCC_CASE_1,
    )
    assert product == ProductRow(GTIN, "drug_otc", stock.maker)
    with stock.sessions.begin() as session:
        _, other = lock_unit_with_product(session, (OTHER_GTIN, "P2"))
    assert other == ProductRow(OTHER_GTIN, "device", stock.other_maker)


@pytest.mark.parametrize("key", [(GTIN, "NOPE"), (OTHER_GTIN, "P1"), ("09506000134376", "P2")])
def test_a_code_with_no_unit_reads_nothing(stock: Stock, key: tuple[str, str]) -> None:
    with stock.sessions.begin() as session:
        assert lock_unit_with_product(session, key) == ({}, None)


@pytest.mark.postgres_only
def test_on_postgresql_the_unit_and_its_case_are_locked_not_the_product(stock: Stock, engine: Engine) -> None:
    """Another connection asking NOWAIT: the unit's row and its case's are held until the reader's transaction
    ends; the product's row, read by the same statement, is not (``FOR UPDATE OF u``)."""
    other = create_engine(engine.url)
    try:
        with stock.sessions.begin() as session:
            lock_unit_with_product(session, (GTIN, "P1"))
            with other.connect() as conn:
                for locked in (
                    "SELECT id FROM unit WHERE gtin = :gtin AND serial = 'P1' FOR UPDATE NOWAIT",
                    "SELECT sscc FROM container WHERE sscc = :sscc FOR UPDATE NOWAIT",
                ):
                    with pytest.raises(OperationalError, match="could not obtain lock"):
                        conn.execute(text(locked), {"gtin": GTIN, "sscc": SSCC_CASE_1})
                    conn.rollback()
                free = conn.execute(text("SELECT gtin FROM product WHERE gtin = :g FOR UPDATE NOWAIT"), {"g": GTIN})
                assert free.scalar_one() == GTIN
                conn.execute(
                    text("SELECT id FROM unit WHERE gtin = :g AND serial = 'P2' FOR UPDATE NOWAIT"), {"g": GTIN}
                )
                conn.rollback()
        with other.connect() as conn:  # the reader's transaction over, the unit is free again
            assert (
                conn.execute(
                    text("SELECT serial FROM unit WHERE gtin = :g AND serial = 'P1' FOR UPDATE NOWAIT"), {"g": GTIN}
                ).scalar_one()
                == "P1"
            )
    finally:
        other.dispose()
