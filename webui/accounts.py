"""Invitation and password-reset links (the portal's own table)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fusion_core.db import utcnow
from fusion_core.iam.models import Admin
from webui.models import PasswordReset

LIFETIME = {"reset": timedelta(hours=1), "invite": timedelta(days=7)}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_link(session: Session, admin: Admin, purpose: str) -> str:
    """Create a link secret for `admin` (earlier unused links stop working); caller commits."""
    now = utcnow()
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.admin_id == admin.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    secret = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(
            admin_id=admin.id,
            token_hash=_digest(secret),
            purpose=purpose,
            created_at=now,
            expires_at=now + LIFETIME[purpose],
        )
    )
    return secret


def find_link(session: Session, secret: str) -> PasswordReset | None:
    """The live link for `secret`, or None when unknown, used or expired."""
    link = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _digest(secret)))
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    return link
