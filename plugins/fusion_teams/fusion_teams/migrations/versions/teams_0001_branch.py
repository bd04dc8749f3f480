"""Start the teams migration branch.

Revision ID: teams_0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

revision: str = "teams_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("teams",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
