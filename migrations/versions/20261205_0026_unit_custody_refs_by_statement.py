"""PostgreSQL: a unit's holder, ``to`` and container, when an UPDATE changes them, are checked once per statement
(over the rows it changed, each distinct value once) instead of once per row (issue 17). SQLite: nothing changes.

Migration 0025 made the three keys triggers; its UPDATE trigger ran for every row whose column changed to a
non-NULL value, one ``PERFORM … FOR KEY SHARE`` each: packing 10,000 units into a case ran it 10,000 times for one
container, a bulk ship or receive 10,000 times for one organisation (~4 µs of the backend's CPU a row, measured
with EXPLAIN ANALYZE on 1,000-row updates: 13.8 ms against 9.8 ms with the trigger disabled).

Now an AFTER UPDATE … FOR EACH STATEMENT trigger reads the statement's transition tables: the values a row changed
to (not NULL, distinct from the row's value before, as the key's own trigger and 0025's WHEN), each distinct value
once, in order (found by a set operation, never a join whose cached plan could be a nested loop), locked FOR KEY SHARE and refused with the same error (SQLSTATE 23503, naming the key) when missing.
The guarantees stay as 0025 wrote them: the referenced row is locked until the unit's transaction ends; an
organisation or container a unit names cannot be deleted, re-keyed or truncated away (0025's triggers on those
tables, unchanged); a unit's INSERT is still checked by 0025's row trigger, whose WHEN skips an issued unit (a
statement trigger with a transition table would copy every issued row). A trigger with transition tables cannot
name columns (PostgreSQL), so it runs for every UPDATE of ``unit``, also one that changes none of the three (a
sale's ``state``): measured by a reviewer, 0.05-0.075 ms of a one-row update's 0.10-0.15 ms, and ~1.3 ms once per
database connection (the function's first run), where 0025's WHEN skipped such an update.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

KEYS = {  # column -> (key name, referenced table, referenced column), as 0025's
    "holder_id": ("fk_unit_holder_id_organisation", "organisation", "id"),
    "to_id": ("fk_unit_to_id_organisation", "organisation", "id"),
    "container_sscc": ("fk_unit_container_sscc_container", "container", "sscc"),
}

# The distinct (column, value) pairs the statement's rows changed to: per column, the rows' (id, value) after EXCEPT
# before (EXCEPT compares NULLs as equal: IS DISTINCT FROM). Never a join of the two transition tables: plpgsql
# keeps a query's plan for the session, and one planned for a one-row UPDATE (a nested loop) would then run for a
# 10,000-row one as 10^8 comparisons (11.5 s, measured); a set operation is hashed or sorted at any size.
_CHANGED = " UNION ".join(
    f"SELECT '{column}'::text, d.v::text FROM (SELECT n.id, n.{column} AS v FROM new_units n "  # noqa: S608
    f"EXCEPT SELECT o.id, o.{column} FROM old_units o) AS d WHERE d.v IS NOT NULL"
    for column in KEYS
)

_CHECKS = "\n".join(
    f"""    IF changed.name = '{column}' THEN
      PERFORM 1 FROM ONLY {table} x WHERE x.{ref} = changed.value FOR KEY SHARE OF x;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'insert or update on table "unit" violates foreign key constraint "{name}"'
          USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}', TABLE = 'unit',
                DETAIL = format('Key ({column})=(%s) is not present in table "{table}".', changed.value);
      END IF;
    END IF;"""
    for column, (name, table, ref) in KEYS.items()
)

_FUNCTION = f"""CREATE OR REPLACE FUNCTION unit_custody_refs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed record;
BEGIN
  FOR changed IN SELECT c.name, c.value FROM ({_CHANGED}) AS c(name, value) ORDER BY c.name, c.value LOOP
{_CHECKS}
  END LOOP;
  RETURN NULL;
END $$"""  # noqa: S608 (constants of this module only)

# 0025's row trigger, restored by the downgrade
_ROW_CHANGED = " OR ".join(f"(NEW.{c} IS NOT NULL AND NEW.{c} IS DISTINCT FROM OLD.{c})" for c in KEYS)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    op.execute("DROP TRIGGER IF EXISTS unit_custody_refs_update ON unit")
    op.execute(
        "CREATE TRIGGER unit_custody_refs_changed AFTER UPDATE ON unit "
        "REFERENCING OLD TABLE AS old_units NEW TABLE AS new_units FOR EACH STATEMENT "
        "EXECUTE FUNCTION unit_custody_refs_changed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER unit_custody_refs_changed ON unit")
    op.execute("DROP FUNCTION unit_custody_refs_changed()")
    op.execute(
        f"CREATE TRIGGER unit_custody_refs_update AFTER UPDATE OF {', '.join(KEYS)} ON unit FOR EACH ROW "
        f"WHEN ({_ROW_CHANGED}) EXECUTE FUNCTION unit_custody_refs()"
    )
