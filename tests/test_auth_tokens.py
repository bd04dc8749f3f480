"""API tokens: exchanged for a password and shown once, stored hashed, expiring, revocable,
dead with their administrator; last use recorded (throttled); /auth/me."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from fusion_core.db import get_db, utcnow
from fusion_core.iam.models import Admin, ApiToken
from fusion_core.testing import PASSWORD


def stored_token(app, token_id) -> ApiToken:
    with app.app_context():
        return get_db().session.get(ApiToken, uuid.UUID(str(token_id)))


def set_token(app, token_id, **values) -> None:
    """Move a token's clock (no sleeping): change the row directly."""
    with app.app_context():
        session = get_db().session
        token = session.get(ApiToken, uuid.UUID(str(token_id)))
        for key, value in values.items():
            setattr(token, key, value)
        session.commit()


def token_id_of(app, secret: str) -> uuid.UUID:
    with app.app_context():
        digest = hashlib.sha256(secret.encode()).hexdigest()
        return get_db().session.scalar(select(ApiToken.id).where(ApiToken.token_hash == digest))


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_password_exchange_shows_the_token_once_and_stores_only_its_hash(api, make, app):
    admin = make.admin(make.group(), email="ops@example.test")
    response = api.post(
        "auth/tokens", {"email": " OPS@example.test ", "password": PASSWORD, "name": "ci"}
    )
    assert response.status_code == 201, response.json
    secret = response.json["token"]
    assert secret.startswith("fus_") and len(secret) > 30
    assert response.json["prefix"] == secret[: len(response.json["prefix"])]
    assert response.json["name"] == "ci"
    assert response.json["admin_id"] == str(admin.id)
    assert response.json["expires_at"] is None

    row = stored_token(app, response.json["id"])
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (row.token_hash, row.prefix, row.name)

    me = api.get("auth/me", headers=bearer(secret))
    assert me.status_code == 200, me.json
    assert me.json["admin"]["email"] == "ops@example.test"
    assert me.json["organization_kind"] == "group"
    assert "password" not in me.json["admin"] and "password_hash" not in me.json["admin"]

    listed = api.get("auth/tokens", headers=bearer(secret))
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json] == [response.json["id"]]
    assert "token" not in listed.json[0]  # never shown again
    assert secret not in listed.data.decode()


def test_wrong_password_or_unknown_email_answer_401_without_saying_which(api, make):
    make.admin(make.group(), email="ops@example.test")
    wrong = api.post("auth/tokens", {"email": "ops@example.test", "password": "wrong-password"})
    unknown = api.post("auth/tokens", {"email": "who@example.test", "password": PASSWORD})
    for response in (wrong, unknown):
        assert response.status_code == 401, response.json
        assert response.json["message"] == "Wrong email or password."
        assert "token" not in response.json


def test_token_expiry(api, make, app):
    make.admin(make.group(), email="ops@example.test")
    response = api.post(
        "auth/tokens", {"email": "ops@example.test", "password": PASSWORD, "expires_in_days": 7}
    )
    assert response.status_code == 201, response.json
    secret, token_id = response.json["token"], response.json["id"]
    expires = stored_token(app, token_id).expires_at
    assert timedelta(days=6, hours=23) < expires - utcnow() <= timedelta(days=7)
    assert api.get("auth/me", headers=bearer(secret)).status_code == 200

    set_token(app, token_id, expires_at=utcnow() - timedelta(seconds=1))
    expired = api.get("auth/me", headers=bearer(secret))
    assert expired.status_code == 401
    assert expired.json["message"] == "The token is unknown, expired or revoked."
    assert expired.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("days", [0, -1, 3651, "soon"])
def test_expiry_out_of_range_is_refused(api, make, days):
    make.admin(make.group(), email="ops@example.test", password=PASSWORD)
    response = api.post(
        "auth/tokens", {"email": "ops@example.test", "password": PASSWORD, "expires_in_days": days}
    )
    assert response.status_code == 422, response.json
    assert "expires_in_days" in response.json["errors"]


def test_revoking_your_own_token(api, make, app):
    admin = make.admin(make.group(), password=None)
    secret = make.token(admin)
    token_id = token_id_of(app, secret)
    revoked = api.delete(f"auth/tokens/{token_id}", headers=bearer(secret))
    assert revoked.status_code == 200, revoked.json
    assert revoked.json["revoked_at"] is not None
    assert stored_token(app, token_id).revoked_at is not None
    again = api.get("auth/me", headers=bearer(secret))
    assert again.status_code == 401


def test_an_admin_revokes_a_managed_admins_token_but_read_only_cannot(api, make, app):
    tree = make.tree()
    boss = make.admin(tree["distributor"], password=None)
    viewer = make.admin(tree["distributor"], role="read_only", password=None)
    worker = make.admin(tree["tenant"], password=None)
    worker_secret = make.token(worker)
    token_id = token_id_of(app, worker_secret)

    refused = api.as_(viewer).delete(f"auth/tokens/{token_id}")
    assert refused.status_code == 403, refused.json
    assert "read-only" in refused.json["message"]
    assert stored_token(app, token_id).revoked_at is None
    assert api.get("auth/me", headers=bearer(worker_secret)).status_code == 200

    done = api.as_(boss).delete(f"auth/tokens/{token_id}")
    assert done.status_code == 200, done.json
    assert api.get("auth/me", headers=bearer(worker_secret)).status_code == 401

    # Upwards is out of scope: a tenant admin cannot even see a distributor admin's token.
    boss_token = token_id_of(app, make.token(boss))
    hidden = api.as_(make.admin(tree["tenant"], password=None)).delete(f"auth/tokens/{boss_token}")
    assert hidden.status_code == 404
    assert stored_token(app, boss_token).revoked_at is None


def test_read_only_may_revoke_its_own_token(api, make, app):
    viewer = make.admin(make.group(), role="read_only", password=None)
    secret = make.token(viewer)
    response = api.delete(f"auth/tokens/{token_id_of(app, secret)}", headers=bearer(secret))
    assert response.status_code == 200, response.json
    assert api.get("auth/me", headers=bearer(secret)).status_code == 401


def test_a_deactivated_admins_tokens_stop_working(api, make, app):
    tree = make.tree()
    boss = api.as_(make.admin(tree["group"], password=None))
    worker = make.admin(tree["reseller"], password=None)
    secret = make.token(worker)
    assert api.get("auth/me", headers=bearer(secret)).status_code == 200

    response = boss.patch(f"admins/{worker.id}", {"active": False})
    assert response.status_code == 200, response.json
    assert response.json["active"] is False
    assert api.get("auth/me", headers=bearer(secret)).status_code == 401
    assert stored_token(app, token_id_of(app, secret)).revoked_at is not None

    # Reactivating does not bring revoked tokens back.
    assert boss.patch(f"admins/{worker.id}", {"active": True}).status_code == 200
    assert api.get("auth/me", headers=bearer(secret)).status_code == 401


def test_an_inactive_admins_unrevoked_token_is_refused_too(api, make, app):
    worker = make.admin(make.group(), password=None)
    secret = make.token(worker)
    with app.app_context():
        session = get_db().session
        session.get(Admin, worker.id).active = False
        session.commit()
    assert stored_token(app, token_id_of(app, secret)).revoked_at is None
    assert api.get("auth/me", headers=bearer(secret)).status_code == 401


def test_last_use_is_recorded_and_throttled(api, make, app):
    touch = app.config["FUSION"]["TOKEN_TOUCH_SECONDS"]
    assert touch > 2
    secret = make.token(make.admin(make.group(), password=None))
    token_id = token_id_of(app, secret)
    assert stored_token(app, token_id).last_used_at is None

    assert api.get("auth/me", headers=bearer(secret)).status_code == 200
    first = stored_token(app, token_id).last_used_at
    assert first is not None and abs(utcnow() - first) < timedelta(minutes=1)

    recent = utcnow() - timedelta(seconds=touch - 2)
    set_token(app, token_id, last_used_at=recent)
    assert api.get("auth/me", headers=bearer(secret)).status_code == 200
    assert stored_token(app, token_id).last_used_at == recent  # within the interval: no write

    stale = utcnow() - timedelta(seconds=touch + 1)
    set_token(app, token_id, last_used_at=stale)
    assert api.get("auth/me", headers=bearer(secret)).status_code == 200
    assert stored_token(app, token_id).last_used_at > stale + timedelta(seconds=touch)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer garbage",
        "Bearer fus_" + "x" * 43,
        "Token fus_abc",
    ],
)
def test_missing_or_garbage_tokens_answer_401_with_a_challenge(api, make, header):
    make.group()
    headers = {} if header is None else {"Authorization": header}
    for path in ("auth/me", "tenants", "audit", f"tenants/{uuid.uuid4()}"):
        response = api.get(path, headers=headers)
        assert response.status_code == 401, (path, response.json)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="fusion"'
        assert response.json["code"] == "unauthorized"
        assert response.json["request_id"] == response.headers["X-Request-ID"]


def test_public_routes_need_no_token(api, app):
    assert api.get("/api/v1/openapi.json").status_code == 200
    assert api.get("/healthz").status_code == 200
    # The exchange itself is public: a wrong password is 401 for the password, not the token.
    response = api.post("auth/tokens", {"email": "x@example.test", "password": "nope-nope-nope"})
    assert response.status_code == 401
    assert response.json["message"] == "Wrong email or password."


def test_the_request_path_builds_the_same_actor_as_the_admin_object(app, make):
    """token_actor (one SELECT of columns, used per request) and actor_for(resolve_token())
    (ORM objects) must agree on who acts and in which scope."""
    from fusion_core.iam.services import actor_for, resolve_token, token_actor

    tree = make.tree()
    worker = make.admin(tree["reseller"], role="read_only", password=None)
    secret = make.token(worker)
    with app.app_context():
        session = get_db().session
        fast = token_actor(session, secret, "api", "req-1")
        slow = actor_for(resolve_token(session, secret), "api", "req-1")
        assert fast == slow
        assert (fast.admin_id, fast.organization_id, fast.role) == (
            worker.id,
            tree["reseller"].id,
            "read_only",
        )
        assert fast.org_path == tree["reseller"].org_path and fast.org_kind == "reseller"
        assert token_actor(session, secret + "x") is None
        assert token_actor(session, "not-a-token") is None
