"""PostgreSQL: the foreign keys of ``containment`` (5) and ``event_item`` (3) become statement-level triggers that
check each distinct value a statement writes once, as migration 0026 does for ``unit``'s custody columns
(issue 17). SQLite: nothing changes.

PostgreSQL runs a key's check for every inserted row, one ``SELECT 1 … FOR KEY SHARE`` each through SPI: packing
10,000 units writes 10,000 containment rows (5 keys, 3 of them set) and 10,000 event items (3 keys, 2 set), and
those checks were ~20 µs of the backend's CPU per packed unit (EXPLAIN ANALYZE on 1,000-row statements: 12-13 ms
of triggers for the containment rows, 8-9 for the items), as much as the unit row's UPDATE itself.

Now, per table, an AFTER INSERT and an AFTER UPDATE trigger FOR EACH STATEMENT read the statement's transition
table: for each key, the distinct non-NULL values written (on UPDATE those a row changed to, found by ``EXCEPT`` as
0026 does), in ascending order, each looked up and locked FOR KEY SHARE by an index lookup (a ``LATERAL`` subquery:
a nested loop over the distinct values is the only plan, right at any size whatever plan the session keeps), and
a missing one refused with SQLSTATE 23503 (foreign_key_violation) naming the key, as the key did.

The referenced side as 0025 keeps it for ``unit``: a unit, container or event that a containment row or an event
item names cannot be deleted, change its key, or be truncated away (row triggers on DELETE and on UPDATE of the
key, a statement trigger on TRUNCATE); under REPEATABLE READ or SERIALIZABLE deleting or re-keying one is refused
outright (the service never does either). The models declare none of these keys (SQLite's are listed in
app/db/scan_partitions.SQLITE_ONLY_KEYS).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# table -> column -> (key name, referenced table, referenced column)
KEYS: dict[str, dict[str, tuple[str, str, str]]] = {
    "containment": {
        "unit_id": ("fk_containment_unit_id_unit", "unit", "id"),
        "child_sscc": ("fk_containment_child_sscc_container", "container", "sscc"),
        "parent_sscc": ("fk_containment_parent_sscc_container", "container", "sscc"),
        "packed_event_id": ("fk_containment_packed_event_id_event", "event", "id"),
        "unpacked_event_id": ("fk_containment_unpacked_event_id_event", "event", "id"),
    },
    "event_item": {
        "event_id": ("fk_event_item_event_id_event", "event", "id"),
        "unit_id": ("fk_event_item_unit_id_unit", "unit", "id"),
        "container_sscc": ("fk_event_item_container_sscc_container", "container", "sscc"),
    },
}
# referenced table -> its key column
REFERENCED = {"unit": "id", "container": "sscc", "event": "id"}


def _check(table: str, column: str, values: str) -> str:
    """plpgsql: lock every value of ``values`` (a query of one column ``v``) in its table, refuse a missing one."""
    name, ref_table, ref = KEYS[table][column]
    return f"""  SELECT d.v::text INTO missing
    FROM (SELECT DISTINCT s.v FROM ({values}) AS s WHERE s.v IS NOT NULL ORDER BY 1) AS d
    LEFT JOIN LATERAL (SELECT 1 AS found FROM ONLY {ref_table} x WHERE x.{ref} = d.v FOR KEY SHARE OF x) AS l ON true
    WHERE l.found IS NULL LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'insert or update on table "{table}" violates foreign key constraint "{name}"'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}', TABLE = '{table}',
            DETAIL = format('Key ({column})=(%s) is not present in table "{ref_table}".', missing);
  END IF;"""  # noqa: S608 (constants of this module only)


def _inserted_function(table: str) -> str:
    values = "SELECT n.{} AS v FROM new_rows n"  # .format: a column of this module
    checks = "\n".join(_check(table, column, values.format(column)) for column in KEYS[table])
    return _statement_function(f"{table}_refs_inserted", checks)


def _updated_function(table: str) -> str:
    # The values rows changed to: (id, value) after EXCEPT before, never a join of the two transition tables
    # (0026: a cached nested-loop plan of one would run a large statement in quadratic time).
    checks = "\n".join(
        _check(
            table,
            column,
            f"SELECT c.v FROM (SELECT n.id, n.{column} AS v FROM new_rows n "  # noqa: S608
            f"EXCEPT SELECT o.id, o.{column} FROM old_rows o) AS c",
        )
        for column in KEYS[table]
    )
    return _statement_function(f"{table}_refs_updated", checks)


def _statement_function(name: str, checks: str) -> str:
    """A statement trigger's function running ``checks`` (``_check``'s blocks)."""
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing text;
BEGIN
{checks}
  RETURN NULL;
END $$"""


def _referencing(referenced: str) -> list[tuple[str, str]]:
    """The (table, column) pairs naming rows of ``referenced``."""
    return [(t, c) for t, keys in KEYS.items() for c, (_, r, _) in keys.items() if r == referenced]


def _referenced_function(referenced: str) -> str:
    key = REFERENCED[referenced]
    named = " OR ".join(
        f"EXISTS (SELECT 1 FROM {t} r WHERE r.{c} = OLD.{key})"  # noqa: S608
        for t, c in _referencing(referenced)
    )
    missing = " OR ".join(
        f"EXISTS (SELECT 1 FROM {t} r WHERE r.{c} IS NOT NULL "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {referenced} x WHERE x.{key} = r.{c}))"
        for t, c in _referencing(referenced)
    )
    return f"""CREATE OR REPLACE FUNCTION {referenced}_custody_rows_refs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF {missing} THEN
      RAISE EXCEPTION 'truncate of table "{referenced}" leaves containment rows or event items naming its rows'
        USING ERRCODE = 'foreign_key_violation', TABLE = '{referenced}';
    END IF;
    RETURN NULL;
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'a row of "{referenced}" is deleted or re-keyed only under READ COMMITTED'
      USING ERRCODE = 'foreign_key_violation', HINT = 'containment rows and event items reference it by triggers (migration 0027)';
  END IF;
  IF {named} THEN
    RAISE EXCEPTION 'update or delete on table "{referenced}" violates a foreign key of table "containment" or "event_item"'
      USING ERRCODE = 'foreign_key_violation', TABLE = '{referenced}',
            DETAIL = format('Key ({key})=(%s) is still referenced from table "containment" or "event_item".', OLD.{key});
  END IF;
  RETURN NULL;
END $$"""


def _drop_triggers() -> None:
    for table in KEYS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_refs_inserted ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_refs_updated ON {table}")
    for referenced in REFERENCED:
        for event in ("delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {referenced}_custody_rows_refs_{event} ON {referenced}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, keys in KEYS.items():
        for name, _, _ in keys.values():
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    _drop_triggers()
    for table in KEYS:
        op.execute(_inserted_function(table))
        op.execute(_updated_function(table))
        op.execute(
            f"CREATE TRIGGER {table}_refs_inserted AFTER INSERT ON {table} "
            f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {table}_refs_inserted()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_refs_updated AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {table}_refs_updated()"
        )
    for referenced, key in REFERENCED.items():
        op.execute(_referenced_function(referenced))
        op.execute(
            f"CREATE TRIGGER {referenced}_custody_rows_refs_delete AFTER DELETE ON {referenced} FOR EACH ROW "
            f"EXECUTE FUNCTION {referenced}_custody_rows_refs()"
        )
        op.execute(
            f"CREATE TRIGGER {referenced}_custody_rows_refs_update AFTER UPDATE OF {key} ON {referenced} FOR EACH ROW "
            f"WHEN (OLD.{key} IS DISTINCT FROM NEW.{key}) EXECUTE FUNCTION {referenced}_custody_rows_refs()"
        )
        op.execute(
            f"CREATE TRIGGER {referenced}_custody_rows_refs_truncate AFTER TRUNCATE ON {referenced} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {referenced}_custody_rows_refs()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _drop_triggers()
    for table in KEYS:
        op.execute(f"DROP FUNCTION {table}_refs_inserted()")
        op.execute(f"DROP FUNCTION {table}_refs_updated()")
    for referenced in REFERENCED:
        op.execute(f"DROP FUNCTION {referenced}_custody_rows_refs()")
    for table, keys in KEYS.items():
        for column, (name, ref_table, ref) in keys.items():
            op.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {ref_table} ({ref})"
            )
