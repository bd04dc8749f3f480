"""The portal's own table: single-use links to set or reset a password."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from fusion_core.db import Base, IdMixin
from fusion_core.iam.models import SECRET


class PasswordReset(IdMixin, Base):
    """Only the SHA-256 of the link's secret is stored; the link works once, for a while."""

    __tablename__ = "portal_password_resets"
    __audit__ = False  # the password change it leads to is audited on the admin

    admin_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("admins.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info=SECRET)
    purpose: Mapped[str] = mapped_column(String(20))  # invite or reset
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
