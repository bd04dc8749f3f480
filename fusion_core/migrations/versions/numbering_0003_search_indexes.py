"""numbering: search indexes that end with e164 (type, vanity class; country/type/state)

Search pages are ordered by e164. An index on the filtered column(s) followed by e164 turns a
filter into one index range read in order, so a page stops after `limit` rows: measured on
10,000,000 numbers (bench.numbers), `type=toll_free` went from ~1 s (the e164 index read while
skipping every other type) to a few ms. The (country, number_type, state) index gains e164 for
the same reason (a number request picks the first available numbers of a country and type).

On PostgreSQL each index is built in one pass over the table (about 20 s for 10,000,000
numbers on 2 cores); writes to `numbers` wait meanwhile, reads do not.

Revision ID: numbering_0003
Revises: numbering_0002
Create Date: 2026-11-22 07:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "numbering_0003"
down_revision: str | Sequence[str] | None = "numbering_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.drop_index("ix_numbers_country_type_state")
        batch_op.create_index(
            "ix_numbers_country_type_state_e164",
            ["country", "number_type", "state", "e164"],
            unique=False,
        )
        batch_op.create_index("ix_numbers_type_e164", ["number_type", "e164"], unique=False)
        batch_op.create_index(
            "ix_numbers_vanity_class_e164",
            ["vanity_class", "e164"],
            unique=False,
            postgresql_where=sa.text("vanity_class IS NOT NULL"),
            sqlite_where=sa.text("vanity_class IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.drop_index("ix_numbers_vanity_class_e164")
        batch_op.drop_index("ix_numbers_type_e164")
        batch_op.drop_index("ix_numbers_country_type_state_e164")
        batch_op.create_index(
            "ix_numbers_country_type_state", ["country", "number_type", "state"], unique=False
        )
