"""The portal's branch: password-reset and invitation links.

Revision ID: portal_0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fusion_core.db import UTCDateTime

revision: str = "portal_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("portal",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "portal_password_resets",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "admin_id",
            sa.Uuid(),
            sa.ForeignKey(
                "admins.id",
                ondelete="CASCADE",
                name="fk_portal_password_resets_admin_id_admins",
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_portal_password_resets"),
        sa.UniqueConstraint("token_hash", name="uq_portal_password_resets_token_hash"),
    )
    op.create_index("ix_portal_password_resets_admin_id", "portal_password_resets", ["admin_id"])


def downgrade() -> None:
    op.drop_table("portal_password_resets")
