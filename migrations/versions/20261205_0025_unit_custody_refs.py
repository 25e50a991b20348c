"""PostgreSQL: the three keys of ``unit``'s custody columns become triggers that fire only when a column is set, and
the custody index leaves out units custody never touched (issue 17). SQLite: nothing changes.

Every issued unit has ``holder_id``, ``to_id`` and ``container_sscc`` NULL, yet PostgreSQL queues and runs the
foreign-key trigger of each of the three keys for every inserted row (it skips them only on UPDATE), and every
row also goes into ``ix_unit_gtin_batch_id_state_custody``. COPY into a scratch copy of the schema
(docs/benchmarks.md, Issuance): the three triggers ~1.5-2 µs of the backend's CPU per row, the index entry ~1.5-2.

The same guarantees, by triggers:
- a unit's holder and ``to`` are organisations, its container a container: checked on INSERT (only when one of
  the three is set, the trigger's WHEN: nothing is queued for an issued unit) and on UPDATE of a column that
  changes to a non-NULL value (as the key's own trigger: an unchanged value is not checked again). The referenced
  row is locked FOR KEY SHARE, as the key does, so that it cannot be deleted or re-keyed until the unit's
  transaction ends;
- an organisation or a container a unit names cannot be deleted, change its key, or be truncated away. Under
  REPEATABLE READ or SERIALIZABLE the key would see rows committed after the snapshot (its cross-check snapshot),
  which a trigger cannot (and SERIALIZABLE's predicate locks catch nothing when the unit's writer runs in READ
  COMMITTED, as the service's do): there, deleting or re-keying an organisation or a container is refused outright
  (the service never does either; its writes run in READ COMMITTED, where the check sees every committed unit).
Violations raise SQLSTATE 23503 (foreign_key_violation), an IntegrityError as before, naming the key.

The custody index becomes partial, ``WHERE state <> 'issued' OR holder_id IS NOT NULL OR to_id IS NOT NULL OR
container_sscc IS NOT NULL``, built CONCURRENTLY beside the old one, which is then dropped. Every query that used it
names a state other than ``issued`` or a holder (``holder_id = :org``), which implies the predicate, and keeps its
plan; the two that also wanted untouched units (a case's unit count and a manufacturer's quarantine,
app/services/cases.py) read a lot's units through its issuances (``ix_unit_issuance_id_id``).

SQLite keeps its keys and its full index: a key on a NULL column costs SQLite nothing, whereas the same checks as
triggers cost ~3.5 µs a row (SQLite runs a trigger's program for every row, WHEN included: 5.2-6.4 against
7.8-10.1 µs per row for 200,000 rows); its planner would prove this partial index's OR predicate from no query.
The models declare neither the keys nor the triggers (app/db/scan_partitions.SQLITE_ONLY_KEYS).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

KEYS = {  # column -> (key name, referenced table, referenced column)
    "holder_id": ("fk_unit_holder_id_organisation", "organisation", "id"),
    "to_id": ("fk_unit_to_id_organisation", "organisation", "id"),
    "container_sscc": ("fk_unit_container_sscc_container", "container", "sscc"),
}
CUSTODY_INDEX = "ix_unit_gtin_batch_id_state_custody"
CUSTODY_COLUMNS = "gtin, batch_id, state, container_sscc, holder_id, to_id"
TOUCHED = "state <> 'issued' OR holder_id IS NOT NULL OR to_id IS NOT NULL OR container_sscc IS NOT NULL"

# --- PostgreSQL ------------------------------------------------------------------------------------------------

_PG_CHECK = "\n".join(
    f"""  IF NEW.{column} IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.{column} IS DISTINCT FROM OLD.{column}) THEN
    PERFORM 1 FROM ONLY {table} x WHERE x.{ref} = NEW.{column} FOR KEY SHARE OF x;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'insert or update on table "unit" violates foreign key constraint "{name}"'
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}', TABLE = 'unit',
              DETAIL = format('Key ({column})=(%s) is not present in table "{table}".', NEW.{column});
    END IF;
  END IF;"""
    for column, (name, table, ref) in KEYS.items()
)

_PG_SET = " OR ".join(f"NEW.{c} IS NOT NULL" for c in KEYS)
_PG_CHANGED = " OR ".join(f"(NEW.{c} IS NOT NULL AND NEW.{c} IS DISTINCT FROM OLD.{c})" for c in KEYS)

_PG_REFERENCED = {  # referenced table -> (its key column, the unit columns naming it)
    "organisation": ("id", ["holder_id", "to_id"]),
    "container": ("sscc", ["container_sscc"]),
}


def _pg_referenced_function(table: str) -> str:
    key, columns = _PG_REFERENCED[table]
    named = " OR ".join(f"u.{c} = OLD.{key}" for c in columns)
    anything = " OR ".join(f"u.{c} IS NOT NULL" for c in columns)
    missing = " OR ".join(
        f"(u.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} r WHERE r.{key} = u.{c}))"  # noqa: S608
        for c in columns
    )
    return f"""CREATE OR REPLACE FUNCTION {table}_unit_refs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF EXISTS (SELECT 1 FROM unit u WHERE ({anything}) AND ({missing})) THEN
      RAISE EXCEPTION 'truncate of table "{table}" leaves units naming its rows'
        USING ERRCODE = 'foreign_key_violation', TABLE = 'unit';
    END IF;
    RETURN NULL;
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'a row of "{table}" is deleted or re-keyed only under READ COMMITTED'
      USING ERRCODE = 'foreign_key_violation', HINT = 'units reference it by triggers (migration 0025)';
  END IF;
  IF EXISTS (SELECT 1 FROM unit u WHERE {named}) THEN
    RAISE EXCEPTION 'update or delete on table "{table}" violates a foreign key of table "unit"'
      USING ERRCODE = 'foreign_key_violation', TABLE = 'unit',
            DETAIL = format('Key ({key})=(%s) is still referenced from table "unit".', OLD.{key});
  END IF;
  RETURN NULL;
END $$"""  # noqa: S608 (constants of this module only)


def _pg_upgrade() -> None:
    for name, _, _ in KEYS.values():
        op.execute(f"ALTER TABLE unit DROP CONSTRAINT IF EXISTS {name}")  # IF EXISTS: re-run after a failed index step
    op.execute(
        f"CREATE OR REPLACE FUNCTION unit_custody_refs() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{_PG_CHECK}\n  RETURN NULL;\nEND $$"
    )
    # AFTER ROW, as a key's own trigger: run at the end of the statement, so a row changed twice is checked as it ends.
    _pg_drop_triggers()
    op.execute(
        f"CREATE TRIGGER unit_custody_refs_insert AFTER INSERT ON unit FOR EACH ROW WHEN ({_PG_SET}) "
        "EXECUTE FUNCTION unit_custody_refs()"
    )
    op.execute(
        f"CREATE TRIGGER unit_custody_refs_update AFTER UPDATE OF {', '.join(KEYS)} ON unit FOR EACH ROW "
        f"WHEN ({_PG_CHANGED}) EXECUTE FUNCTION unit_custody_refs()"
    )
    for table, (key, _) in _PG_REFERENCED.items():
        op.execute(_pg_referenced_function(table))
        op.execute(
            f"CREATE TRIGGER {table}_unit_refs_delete AFTER DELETE ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION {table}_unit_refs()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_unit_refs_update AFTER UPDATE OF {key} ON {table} FOR EACH ROW "
            f"WHEN (OLD.{key} IS DISTINCT FROM NEW.{key}) EXECUTE FUNCTION {table}_unit_refs()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_unit_refs_truncate AFTER TRUNCATE ON {table} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {table}_unit_refs()"
        )
    # The index outside the transaction: built CONCURRENTLY (writes go on), then swapped for the old one.
    with op.get_context().autocommit_block():
        new = f"{CUSTODY_INDEX}_new"
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {new}")  # left invalid by an interrupted run
        op.execute(f"CREATE INDEX CONCURRENTLY {new} ON unit ({CUSTODY_COLUMNS}) WHERE {TOUCHED}")
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {CUSTODY_INDEX}")
        op.execute(f"ALTER INDEX {new} RENAME TO {CUSTODY_INDEX}")


def _pg_drop_triggers() -> None:
    for table in _PG_REFERENCED:
        for event in ("delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_unit_refs_{event} ON {table}")
    op.execute("DROP TRIGGER IF EXISTS unit_custody_refs_insert ON unit")
    op.execute("DROP TRIGGER IF EXISTS unit_custody_refs_update ON unit")


def _pg_downgrade() -> None:
    """In the migration's transaction, nothing committed on the way (no CONCURRENTLY, the keys validated as they are
    added): a downgrade past several revisions that an older one refuses (0023, while the log has work waiting)
    rolls this one back with it, instead of leaving it done under a version table that still says 0025."""
    op.execute(f"DROP INDEX {CUSTODY_INDEX}")
    op.execute(f"CREATE INDEX {CUSTODY_INDEX} ON unit ({CUSTODY_COLUMNS})")
    _pg_drop_triggers()
    for table in _PG_REFERENCED:
        op.execute(f"DROP FUNCTION {table}_unit_refs()")
    op.execute("DROP FUNCTION unit_custody_refs()")
    for column, (name, table, ref) in KEYS.items():
        op.execute(f"ALTER TABLE unit ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {table} ({ref})")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_downgrade()
