"""One kept partner answer, one row: a unique index on (requester_id, requested_at, correlation_uuid).

A group of kept answers could be stored twice: on PostgreSQL the event loop's one statement (or a writer thread's
transaction) may lose its connection after the server committed, and the group was then written again, with nothing
to refuse the copy. What names one answer: the correlation UUID is the requester's, echoed as sent
(app/services/partner_verification.correlation_of), so a partner may send the same one in several requests, each
answered and signed anew and each to be kept; within one requester, a request's moment (``requested_at``, the
answer's clock read to the microsecond) tells them apart. A copy stored by a retry has all three the same. The inserts
(app/db/partner_rows.py) are ``ON CONFLICT DO NOTHING`` on this index.

Copies stored before are removed first, the first stored (lowest id) kept: a copy is the same row (the same answer
text, signature included), and no table refers to ``partner_verification``. The table is not partitioned.

PostgreSQL: deleted and then built CONCURRENTLY (answers go on being kept meanwhile), as 0025's and 0028's indexes.
A copy stored in between (the code before this migration, a lost commit) makes the build fail and leaves an invalid
index: it is dropped, the copies removed again and the build tried once more (three tries). SQLite: in the
migration's transaction.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

INDEX = "uq_partner_verification_answer"
KEY = "requester_id, requested_at, correlation_uuid"
# Every row but the first stored of its answer (window functions: SQLite 3.25 and later).
DELETE_COPIES = (
    "DELETE FROM partner_verification WHERE id IN (SELECT id FROM ("  # noqa: S608 - no value in the text
    f"SELECT id, row_number() OVER (PARTITION BY {KEY} ORDER BY id) AS n FROM partner_verification) AS d WHERE n > 1)"
)
TRIES = 3


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute(DELETE_COPIES)
        op.create_index(
            INDEX, "partner_verification", ["requester_id", "requested_at", "correlation_uuid"], unique=True
        )
        return
    with op.get_context().autocommit_block():
        for attempt in range(1, TRIES + 1):
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")  # left invalid by a failed or interrupted build
            op.execute(DELETE_COPIES)
            try:
                op.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON partner_verification ({KEY})")
            except sa.exc.IntegrityError:  # a copy stored meanwhile
                if attempt == TRIES:
                    op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
                    raise
            else:
                return


def downgrade() -> None:
    op.drop_index(INDEX, table_name="partner_verification")
