"""Administrators, passwords (argon2id), API tokens and login throttling."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

import argon2
from flask import current_app, has_app_context
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, contains_eager

from fusion_core.context import Actor, current_actor
from fusion_core.db import utcnow
from fusion_core.errors import Conflict, Forbidden, TooManyRequests, Unauthorized, ValidationFailed
from fusion_core.hierarchy.models import Organization
from fusion_core.iam.models import Admin, ApiToken, LoginThrottle
from fusion_core.permissions import require_write

# argon2id with the library's current parameters; test apps (FUSION_ENV=testing) use the
# cheapest parameters so a suite creating hundreds of admins stays fast. Hashes carry their
# parameters, so verification works either way, and production rehashes weaker ones at login.
_HASHERS = {
    False: argon2.PasswordHasher(),
    True: argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
}
_DUMMY_HASHES: dict[bool, str] = {}


def _cheap() -> bool:
    return has_app_context() and current_app.config["FUSION"]["ENV"] == "testing"


def _hasher() -> argon2.PasswordHasher:
    return _HASHERS[_cheap()]


def _dummy_hash() -> str:
    """A hash to verify against when the email is unknown, so timing reveals nothing."""
    cheap = _cheap()
    if cheap not in _DUMMY_HASHES:
        _DUMMY_HASHES[cheap] = _HASHERS[cheap].hash("not-a-password")
    return _DUMMY_HASHES[cheap]


EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
TOKEN_PREFIX = "fus_"


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            "The password is too short.",
            errors={"password": [f"Use at least {MIN_PASSWORD} characters."]},
        )


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValidationFailed("Invalid email address.", errors={"email": ["Not a valid email."]})
    return email


def actor_for(admin: Admin, via: str, request_id: str | None = None) -> Actor:
    org = admin.organization
    return Actor(
        label=admin.email,
        via=via,
        admin_id=admin.id,
        organization_id=org.id,
        org_kind=org.kind,
        org_path=org.org_path,
        role=admin.role,
        request_id=request_id,
    )


def create_admin(
    session: Session,
    organization: Organization,
    email: str,
    name: str,
    role: str = "admin",
    password: str | None = None,
    actor: Actor | None = None,
    commit: bool = True,
) -> Admin:
    actor = actor or current_actor()
    require_write(actor)
    email = normalize_email(email)
    if session.scalar(select(Admin.id).where(Admin.email == email)):
        raise Conflict(
            "An administrator with this email already exists.",
            errors={"email": ["Already in use."]},
        )
    if password is not None:
        check_password(password)
    admin = Admin(
        organization_id=organization.id,
        email=email,
        name=name,
        role=role,
        active=True,
        password_hash=hash_password(password) if password else None,
        org_path=organization.org_path,
    )
    admin.organization = organization
    session.add(admin)
    if commit:
        session.commit()
    return admin


def update_admin(
    session: Session, admin: Admin, changes: dict[str, Any], actor: Actor | None = None
) -> Admin:
    actor = actor or current_actor()
    require_write(actor)
    if admin.id == actor.admin_id and (
        changes.get("role", admin.role) != admin.role or changes.get("active", True) is False
    ):
        raise Forbidden(
            "You cannot demote or deactivate yourself.",
            errors={"role" if "role" in changes else "active": ["Not on your own account."]},
        )
    if "email" in changes:
        email = normalize_email(changes.pop("email"))
        taken = session.scalar(select(Admin.id).where(Admin.email == email, Admin.id != admin.id))
        if taken:
            raise Conflict("Email already in use.", errors={"email": ["Already in use."]})
        admin.email = email
    if "password" in changes:
        password = changes.pop("password")
        check_password(password)
        admin.password_hash = hash_password(password)
    for key, value in changes.items():
        setattr(admin, key, value)
    if admin.active is False:
        _revoke_all(session, admin)
    session.commit()
    return admin


def set_password(session: Session, admin: Admin, password: str) -> Admin:
    """Set a password from a single-use invitation or reset link: the link proves the mailbox,
    so no role is needed. The caller acts as `admin`, so the change is audited as theirs."""
    check_password(password)
    admin.password_hash = hash_password(password)
    session.commit()
    return admin


def delete_admin(session: Session, admin: Admin, actor: Actor | None = None) -> None:
    actor = actor or current_actor()
    require_write(actor)
    if admin.id == actor.admin_id:
        raise Forbidden("You cannot delete your own account.")
    for token in session.scalars(select(ApiToken).where(ApiToken.admin_id == admin.id)):
        session.delete(token)
    session.delete(admin)
    session.commit()


# --- login and throttling -------------------------------------------------------------------


def _throttles(session: Session, keys: list[str]) -> list[LoginThrottle]:
    now = utcnow()
    rows = []
    for key in keys:
        row = session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_started_at=now)
            session.add(row)
        rows.append(row)
    return rows


def authenticate(session: Session, email: str, password: str, client: str | None) -> Admin:
    """Check a password login; throttle repeated failures per account and per client address."""
    settings = current_app.config["FUSION"]
    email = (email or "").strip().lower()
    keys = [f"email:{email}"] + ([f"addr:{client}"] if client else [])
    now = utcnow()
    rows = _throttles(session, keys)
    locked = [r.locked_until for r in rows if r.locked_until and r.locked_until > now]
    if locked:
        retry_after = int((max(locked) - now).total_seconds()) + 1
        session.rollback()
        raise TooManyRequests(
            "Too many failed logins; try again later.",
            headers={"Retry-After": str(retry_after)},
        )
    admin = session.scalar(select(Admin).where(Admin.email == email))
    try:
        _hasher().verify(
            admin.password_hash if admin and admin.password_hash else _dummy_hash(), password
        )
        ok = admin is not None and admin.password_hash is not None and admin.active
    except argon2.exceptions.VerificationError:
        ok = False
    if not ok:
        window = timedelta(seconds=settings["LOGIN_LOCK_SECONDS"])
        for row in rows:
            if now - row.window_started_at > window:
                row.failures, row.window_started_at = 0, now
            row.failures += 1
            if row.failures >= settings["LOGIN_MAX_FAILURES"]:
                row.locked_until, row.failures, row.window_started_at = now + window, 0, now
        session.commit()
        raise Unauthorized("Wrong email or password.")
    session.delete(rows[0])
    if _hasher().check_needs_rehash(admin.password_hash):
        admin.password_hash = hash_password(password)
    admin.last_login_at = now
    session.commit()
    return admin


# --- API tokens -----------------------------------------------------------------------------


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    session: Session, admin: Admin, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token; the returned secret is shown once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        admin_id=admin.id,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_hash=_digest(secret),
        created_at=utcnow(),
        expires_at=expires_at,
        org_path=admin.org_path,
    )
    session.add(token)
    session.commit()
    return token, secret


def _usable(revoked_at, expires_at, active: bool, now: datetime) -> bool:
    return not revoked_at and not (expires_at and expires_at <= now) and active


def _touch(session: Session, token_id, last_used_at: datetime | None, now: datetime) -> None:
    """Record the token's last use, at most once per TOKEN_TOUCH_SECONDS (a bookkeeping column:
    the audit listener writes no entry for it)."""
    touch = current_app.config["FUSION"]["TOKEN_TOUCH_SECONDS"]
    if last_used_at is None or (now - last_used_at).total_seconds() >= touch:
        token = session.get(ApiToken, token_id)
        token.last_used_at = now
        session.commit()


def resolve_token(session: Session, secret: str) -> Admin | None:
    """The active administrator behind a bearer token, or None. Records last use (throttled)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    # The admin and the organisation are loaded in the same query and set on the token and the
    # admin (contains_eager), so resolving a token costs one SELECT. (Selecting the
    # organisation as a separate entity is not enough: nothing holds it, the identity map lets
    # it go, and admin.organization then lazy-loads it with a second SELECT.)
    token = session.scalar(
        select(ApiToken)
        .join(ApiToken.admin)
        .join(Admin.organization)
        .options(contains_eager(ApiToken.admin).contains_eager(Admin.organization))
        .where(ApiToken.token_hash == _digest(secret))
    )
    if token is None:
        return None
    admin = token.admin
    now = utcnow()
    if not _usable(token.revoked_at, token.expires_at, admin.active, now):
        return None
    _touch(session, token.id, token.last_used_at, now)
    return admin


_tokens, _admins, _orgs = ApiToken.__table__, Admin.__table__, Organization.__table__
# Built once; run on the session's connection as plain Core (no ORM result machinery).
_TOKEN_ACTOR = (
    select(
        _tokens.c.id,
        _tokens.c.revoked_at,
        _tokens.c.expires_at,
        _tokens.c.last_used_at,
        _admins.c.id,
        _admins.c.email,
        _admins.c.role,
        _admins.c.active,
        _orgs.c.id,
        _orgs.c.kind,
        _orgs.c.org_path,
    )
    .select_from(
        _tokens.join(_admins, _tokens.c.admin_id == _admins.c.id).join(
            _orgs, _admins.c.organization_id == _orgs.c.id
        )
    )
    .where(_tokens.c.token_hash == bindparam("digest"))
)


def token_actor(
    session: Session, secret: str, via: str = "api", request_id: str | None = None
) -> Actor | None:
    """The Actor of a bearer token (what `actor_for(resolve_token(...))` gives), or None.

    The per-request path: one SELECT of the eleven columns the check and the Actor need,
    without building ORM objects (about a third of a GET's CPU went to loading the token, its
    administrator and their organisation as objects). Same rules as `resolve_token`: unknown,
    revoked or expired tokens and inactive administrators get None; last use is recorded at
    most once per TOKEN_TOUCH_SECONDS."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = session.connection().execute(_TOKEN_ACTOR, {"digest": _digest(secret)}).first()
    if row is None:
        return None
    token_id, revoked_at, expires_at, last_used_at = row[:4]
    admin_id, email, role, active, org_id, org_kind, org_path = row[4:]
    now = utcnow()
    if not _usable(revoked_at, expires_at, active, now):
        return None
    _touch(session, token_id, last_used_at, now)
    return Actor(
        label=email,
        via=via,
        admin_id=admin_id,
        organization_id=org_id,
        org_kind=org_kind,
        org_path=org_path,
        role=role,
        request_id=request_id,
    )


def revoke_token(session: Session, token: ApiToken, actor: Actor | None = None) -> ApiToken:
    actor = actor or current_actor()
    if token.admin_id != actor.admin_id:
        require_write(actor)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    session.commit()
    return token


def _revoke_all(session: Session, admin: Admin) -> None:
    for token in session.scalars(
        select(ApiToken).where(ApiToken.admin_id == admin.id, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = utcnow()
