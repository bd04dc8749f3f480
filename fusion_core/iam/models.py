"""Administrators, their API tokens, and login throttling."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fusion_core.db import Base, IdMixin, TimestampMixin, VersionMixin
from fusion_core.hierarchy.models import Organization
from fusion_core.scope import ScopedMixin

ROLES = ("admin", "read_only")

# Column info flags read by the audit recorder.
SECRET = {"audit": "secret"}  # recorded as changed, never in clear
BOOKKEEPING = {"audit": "skip"}  # not a change of substance (last use, counters)


class Admin(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    __tablename__ = "admins"
    __label__ = "administrator"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="role"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="admin")
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), info=SECRET)
    last_login_at: Mapped[datetime | None] = mapped_column(info=BOOKKEEPING)

    organization: Mapped[Organization] = relationship()

    # Flask-Login
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class ApiToken(IdMixin, ScopedMixin, Base):
    """A bearer token: the secret is shown once; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"
    __label__ = "token"

    admin_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("admins.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info=SECRET)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None] = mapped_column(info=BOOKKEEPING)

    admin: Mapped[Admin] = relationship()


class LoginThrottle(Base):
    """Failed-login counters per account and per client address (not audited: counters)."""

    __tablename__ = "login_throttles"
    __audit__ = False

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
