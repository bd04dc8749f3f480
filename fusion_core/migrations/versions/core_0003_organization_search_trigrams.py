"""core: trigram indexes for searching organisations by any part of their name (PostgreSQL)

A list's `q` is a case-insensitive substring match (`lower(name) LIKE '%text%'`), which no
B-tree can serve: with 100,000 tenants every search read the whole table (portal search p95
~150 ms in bench portal). pg_trgm's GIN indexes on `lower(name)` and
`lower(external_billing_id)` answer a pattern of three or more characters from the index.

PostgreSQL only, and only where the pg_trgm extension can be created (it ships with
PostgreSQL's contrib modules and is a trusted extension: the database's owner may create it).
Without it the migration leaves a warning and searches stay correct, only slower. SQLite has
no such index; its searches scan as before.

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-12-07 13:40:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0003"
down_revision: str | Sequence[str] | None = "core_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_organizations_name_trgm": "lower(name)",
    "ix_organizations_billing_id_trgm": "lower(external_billing_id)",
}
log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm is not available (%s): organisation search stays unindexed", exc)
        return
    for name, expression in INDEXES.items():
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON organizations "
            f"USING gin ({expression} gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
