"""Per-lot custody counters for the recall trace, backfilled from the rows that exist.

lot_custody (units of a lot by effective custody, less the units its issuances made: those start as issued
at the manufacturer and are added back from issuance.count when read), container_lot (units of a lot in a container's subtree),
lot_hop (units shipped, per shipment), lot_sale (units with a standing sale, per action, channel, platform),
lot_recovery (units ever returned, destroyed or recycled), and recall.recovery_baseline (lot_recovery as it was
when the recall began). ``backfill`` recomputes them all from units, containers, containment and events; it is
also what scripts/bench_recall.py and the counter tests use to count from scratch.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_OPEN = 2**62
_DEPTH = 32

# Units of each lot moved by an event item, directly or inside the container the item names (the containment
# intervals of the lot's units, walked up the nesting to the container at the time of the event). Fixed text.
_MOVES = """
    WITH RECURSIVE intervals(batch_id, sscc, start_id, end_id, n) AS (
        SELECT c.batch_id, c.parent_sscc, c.packed_event_id, COALESCE(c.unpacked_event_id, :open), COUNT(*)
        FROM containment c WHERE c.unit_id IS NOT NULL
        GROUP BY c.batch_id, c.parent_sscc, c.packed_event_id, c.unpacked_event_id
    ),
    enclosure(batch_id, n, gsscc, gstart, gend, sscc, start_id, end_id, depth) AS (
        SELECT batch_id, n, sscc, start_id, end_id, sscc, start_id, end_id, 0 FROM intervals
      UNION ALL
        SELECT e.batch_id, e.n, e.gsscc, e.gstart, e.gend, c.parent_sscc,
               CASE WHEN c.packed_event_id > e.start_id THEN c.packed_event_id ELSE e.start_id END,
               CASE WHEN COALESCE(c.unpacked_event_id, :open) < e.end_id
                    THEN COALESCE(c.unpacked_event_id, :open) ELSE e.end_id END,
               e.depth + 1
        FROM enclosure e JOIN containment c ON c.child_sscc = e.sscc
        WHERE c.packed_event_id < e.end_id AND COALESCE(c.unpacked_event_id, :open) > e.start_id
          AND e.depth < :depth
    ),
    packed(batch_id, event_id, n) AS (
        SELECT batch_id, event_id, n FROM (
            SELECT DISTINCT x.batch_id, x.gsscc, x.gstart, x.gend, x.n, i.event_id
            FROM enclosure x
            JOIN event_item i ON i.container_sscc = x.sscc AND i.event_id > x.start_id AND i.event_id < x.end_id
        ) AS t
    ),
    moved(batch_id, event_id, n) AS (
        SELECT batch_id, event_id, n FROM packed
      UNION ALL
        SELECT u.batch_id, i.event_id, 1 FROM event_item i JOIN unit u ON u.id = i.unit_id
    )
    SELECT m.batch_id, ev.action, ev.org_id, COALESCE(ev.to_id, ''), SUM(m.n)
    FROM moved m JOIN event ev ON ev.id = m.event_id
    WHERE ev.action IN ('ship', 'return', 'destroy', 'recycle') {extra}
    GROUP BY m.batch_id, ev.action, ev.org_id, COALESCE(ev.to_id, '')
"""

_CONTAINER_LOT = """
    WITH RECURSIVE direct(sscc, batch_id, n) AS (
        SELECT container_sscc, batch_id, COUNT(*) FROM unit WHERE container_sscc IS NOT NULL
        GROUP BY container_sscc, batch_id
    ),
    up(sscc, batch_id, n, depth) AS (
        SELECT sscc, batch_id, n, 0 FROM direct
      UNION ALL
        SELECT c.parent_sscc, up.batch_id, up.n, up.depth + 1 FROM up JOIN container c ON c.sscc = up.sscc
        WHERE c.parent_sscc IS NOT NULL AND up.depth < :depth
    )
    INSERT INTO container_lot (sscc, batch_id, units) SELECT sscc, batch_id, SUM(n) FROM up GROUP BY sscc, batch_id
"""

_LOT_CUSTODY = """
    INSERT INTO lot_custody (batch_id, state, holder_id, to_id, units)
    SELECT batch_id, state, holder_id, to_id, SUM(n) FROM (
        SELECT u.batch_id, u.state, COALESCE(u.holder_id, p.manufacturer_id) AS holder_id,
               COALESCE(u.to_id, '') AS to_id, COUNT(*) AS n
        FROM unit u JOIN product p ON p.gtin = u.gtin
        WHERE u.container_sscc IS NULL
        GROUP BY u.batch_id, u.state, COALESCE(u.holder_id, p.manufacturer_id), COALESCE(u.to_id, '')
      UNION ALL
        SELECT cl.batch_id, c.state, COALESCE(c.holder_id, ''), COALESCE(c.to_id, ''), SUM(cl.units)
        FROM container_lot cl JOIN container c ON c.sscc = cl.sscc
        WHERE c.parent_sscc IS NULL
        GROUP BY cl.batch_id, c.state, COALESCE(c.holder_id, ''), COALESCE(c.to_id, '')
      UNION ALL
        SELECT i.batch_id, 'issued', p.manufacturer_id, '', -SUM(i.count)
        FROM issuance i JOIN batch b ON b.id = i.batch_id JOIN product p ON p.gtin = b.gtin
        GROUP BY i.batch_id, p.manufacturer_id
    ) AS t
    GROUP BY batch_id, state, holder_id, to_id
"""

_LOT_SALE = """
    INSERT INTO lot_sale (batch_id, action, channel, platform_id, units)
    SELECT u.batch_id, e.action, COALESCE(e.channel, ''), COALESCE(e.platform_id, ''), COUNT(DISTINCT u.id)
    FROM event_item i JOIN event e ON e.id = i.event_id JOIN unit u ON u.id = i.unit_id
    WHERE e.action IN ('sell', 'dispense') AND e.undone_by_event_id IS NULL
    GROUP BY u.batch_id, e.action, COALESCE(e.channel, ''), COALESCE(e.platform_id, '')
"""

_TABLES = ("lot_custody", "container_lot", "lot_hop", "lot_sale", "lot_recovery")


def _moves(conn: sa.Connection, extra: str = "", **params: object) -> list[tuple[int, str, str, str, int]]:
    sql = _MOVES.format(extra=extra)
    rows = conn.execute(sa.text(sql), {"open": _OPEN, "depth": _DEPTH, **params})
    return [(int(b), a, f, t, int(n)) for b, a, f, t, n in rows]


def _recall_batches(conn: sa.Connection, gtin: str, lots: list[str], serials: list[str]) -> list[int]:
    if not lots and not serials:
        rows = conn.execute(sa.text("SELECT id FROM batch WHERE gtin = :gtin"), {"gtin": gtin})
        return [int(r[0]) for r in rows]
    if not lots:
        return []
    rows = conn.execute(
        sa.text("SELECT id FROM batch WHERE gtin = :gtin AND lot IN :lots").bindparams(
            sa.bindparam("lots", expanding=True)
        ),
        {"gtin": gtin, "lots": list(lots)},
    )
    return [int(r[0]) for r in rows]


def backfill(conn: sa.Connection) -> None:
    """Count every counter again from the rows (emptying them first) and each recall's baseline."""
    for table in _TABLES:
        conn.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 (fixed names)
    conn.execute(sa.text(_CONTAINER_LOT), {"depth": _DEPTH})
    conn.execute(sa.text(_LOT_CUSTODY))
    conn.execute(sa.text(_LOT_SALE))
    hops: dict[tuple[int, str, str], int] = {}
    recovery: dict[tuple[int, str], int] = {}
    for batch_id, action, from_id, to_id, n in _moves(conn):
        if action == "ship":
            hops[(batch_id, from_id, to_id)] = hops.get((batch_id, from_id, to_id), 0) + n
        else:
            recovery[(batch_id, action)] = recovery.get((batch_id, action), 0) + n
    if hops:
        conn.execute(
            sa.text("INSERT INTO lot_hop (batch_id, from_id, to_id, units) VALUES (:b, :f, :t, :n)"),
            [{"b": b, "f": f, "t": t, "n": n} for (b, f, t), n in sorted(hops.items())],
        )
    if recovery:
        conn.execute(
            sa.text("INSERT INTO lot_recovery (batch_id, action, units) VALUES (:b, :a, :n)"),
            [{"b": b, "a": a, "n": n} for (b, a), n in sorted(recovery.items())],
        )
    recall = sa.table(
        "recall",
        sa.column("id", sa.Integer()),
        sa.column("gtin", sa.String()),
        sa.column("lots", sa.JSON()),
        sa.column("serials", sa.JSON()),
        sa.column("recovery_baseline", sa.JSON()),
    )
    for recall_id, gtin, lots, serials in conn.execute(
        sa.select(recall.c.id, recall.c.gtin, recall.c.lots, recall.c.serials)
    ).all():
        batches = set(_recall_batches(conn, gtin, list(lots or ()), list(serials or ())))
        baseline: dict[str, dict[str, int]] = {str(b): {} for b in sorted(batches)}
        before = "AND ev.recorded_at < (SELECT r.created_at FROM recall r WHERE r.id = :recall_id)"
        for batch_id, action, _, _, n in _moves(conn, before, recall_id=recall_id):
            if batch_id in batches and action != "ship":
                counts = baseline[str(batch_id)]
                counts[action] = counts.get(action, 0) + n
        conn.execute(recall.update().where(recall.c.id == recall_id).values(recovery_baseline=baseline))


def upgrade() -> None:
    op.create_table(
        "lot_custody",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("holder_id", sa.String(length=32), nullable=False),
        sa.Column("to_id", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_lot_custody_batch_id_batch")),
        sa.PrimaryKeyConstraint("batch_id", "state", "holder_id", "to_id", name=op.f("pk_lot_custody")),
    )
    op.create_table(
        "container_lot",
        sa.Column("sscc", sa.String(length=18), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_container_lot_batch_id_batch")),
        sa.ForeignKeyConstraint(["sscc"], ["container.sscc"], name=op.f("fk_container_lot_sscc_container")),
        sa.PrimaryKeyConstraint("sscc", "batch_id", name=op.f("pk_container_lot")),
    )
    op.create_table(
        "lot_hop",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("from_id", sa.String(length=32), nullable=False),
        sa.Column("to_id", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_lot_hop_batch_id_batch")),
        sa.PrimaryKeyConstraint("batch_id", "from_id", "to_id", name=op.f("pk_lot_hop")),
    )
    op.create_table(
        "lot_sale",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("platform_id", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_lot_sale_batch_id_batch")),
        sa.PrimaryKeyConstraint("batch_id", "action", "channel", "platform_id", name=op.f("pk_lot_sale")),
    )
    op.create_table(
        "lot_recovery",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_lot_recovery_batch_id_batch")),
        sa.PrimaryKeyConstraint("batch_id", "action", name=op.f("pk_lot_recovery")),
    )
    op.add_column("recall", sa.Column("recovery_baseline", sa.JSON(), nullable=True))
    backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("recall", schema=None) as batch_op:
        batch_op.drop_column("recovery_baseline")
    for table in reversed(_TABLES):
        op.drop_table(table)
