"""Failed logins are throttled per account and per client address (known or unknown emails),
a success resets the account's counter; portal session login and logout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fusion_core.db import get_db, utcnow
from fusion_core.iam.models import LoginThrottle
from fusion_core.testing import PASSWORD

MAX = 3  # a small limit keeps these tests quick (each attempt runs argon2)


@pytest.fixture(autouse=True)
def small_limit(app, monkeypatch):
    monkeypatch.setitem(app.config["FUSION"], "LOGIN_MAX_FAILURES", MAX)


def login(api, email: str, password: str, addr: str = "192.0.2.1"):
    return api.post(
        "auth/tokens",
        {"email": email, "password": password},
        environ_base={"REMOTE_ADDR": addr},
    )


def assert_throttled(response, app) -> None:
    assert response.status_code == 429, response.json
    assert response.json["code"] == "too_many_requests"
    assert "token" not in response.json
    retry = int(response.headers["Retry-After"])
    assert 0 < retry <= app.config["FUSION"]["LOGIN_LOCK_SECONDS"] + 1


def test_the_account_is_throttled_after_max_failures_even_with_the_right_password(api, make, app):
    make.admin(make.group(), email="ops@example.test")
    for i in range(MAX):
        # a different address each time: this is the account's counter at work
        assert (
            login(api, "ops@example.test", "wrong-password", f"198.51.100.{i}").status_code == 401
        )
    assert_throttled(login(api, "ops@example.test", PASSWORD, "203.0.113.9"), app)
    # Another account is not affected.
    make.admin(make.group(), email="other@example.test")
    assert login(api, "other@example.test", PASSWORD, "203.0.113.9").status_code == 201


def test_the_lock_ends_after_the_lock_time(api, make, app):
    make.admin(make.group(), email="ops@example.test")
    for i in range(MAX):
        login(api, "ops@example.test", "wrong-password", f"198.51.100.{i}")
    assert_throttled(login(api, "ops@example.test", PASSWORD, "203.0.113.9"), app)
    with app.app_context():  # move the clock instead of sleeping
        session = get_db().session
        row = session.get(LoginThrottle, "email:ops@example.test")
        row.locked_until = utcnow() - timedelta(seconds=1)
        session.commit()
    assert login(api, "ops@example.test", PASSWORD, "203.0.113.9").status_code == 201


def test_a_client_address_is_throttled_across_accounts(api, make, app):
    make.admin(make.group(), email="ops@example.test")
    for i in range(MAX):
        response = login(api, f"guess{i}@example.test", "wrong-password", "192.0.2.66")
        assert response.status_code == 401
    # The right password of an untouched account, but from the same address.
    assert_throttled(login(api, "ops@example.test", PASSWORD, "192.0.2.66"), app)
    assert login(api, "ops@example.test", PASSWORD, "192.0.2.67").status_code == 201


def test_unknown_emails_are_throttled_as_well(api, make, app):
    make.group()
    for i in range(MAX):
        assert login(api, "nobody@example.test", "wrong", f"198.51.100.{i}").status_code == 401
    assert_throttled(login(api, "nobody@example.test", "wrong", "203.0.113.9"), app)


def test_success_resets_the_account_counter(api, make, app):
    make.admin(make.group(), email="ops@example.test")
    for i in range(MAX - 1):
        assert login(api, "ops@example.test", "wrong", f"198.51.100.{i}").status_code == 401
    assert login(api, "ops@example.test", PASSWORD, "198.51.100.50").status_code == 201
    # MAX - 1 more failures (from fresh addresses) do not lock: the count restarted.
    for i in range(MAX - 1):
        assert login(api, "ops@example.test", "wrong", f"198.51.100.{100 + i}").status_code == 401
    assert login(api, "ops@example.test", PASSWORD, "198.51.100.200").status_code == 201


def test_a_deactivated_admin_cannot_log_in(api, make, app):
    admin = make.admin(make.group(), email="ops@example.test")
    boss = api.as_(make.admin(make.group(), password=None))
    # out of scope (another group): a second admin of the same group deactivates instead
    assert boss.patch(f"admins/{admin.id}", {"active": False}).status_code == 404
    peer = api.as_(make.admin(admin.organization, password=None))
    assert peer.patch(f"admins/{admin.id}", {"active": False}).status_code == 200
    response = login(api, "ops@example.test", PASSWORD)
    assert response.status_code == 401
    assert response.json["message"] == "Wrong email or password."


# --- the portal's session login --------------------------------------------------------------


def portal_login(client, email: str, password: str, addr: str = "192.0.2.1"):
    page = client.get("/login")
    assert page.status_code == 200
    form = {"email": email, "password": password}
    token = _csrf_token(page.data.decode())
    if token:
        form["csrf_token"] = token
    return client.post("/login", data=form, environ_base={"REMOTE_ADDR": addr})


def _csrf_token(html: str) -> str | None:
    import re

    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    return match.group(1) if match else None


def test_portal_login_home_and_logout(app, make):
    make.admin(make.group("Acme"), email="ops@example.test")
    client = app.test_client()
    assert client.get("/home").status_code in (302, 401)

    response = portal_login(client, "ops@example.test", PASSWORD)
    assert response.status_code == 302, response.data[:500]
    assert response.headers["Location"].endswith("/home")
    home = client.get("/home", follow_redirects=True)
    assert home.status_code == 200
    assert "Acme" in home.data.decode()  # the admin's organisation

    page = home.data.decode()
    form = {"csrf_token": t} if (t := _csrf_token(page)) else {}
    out = client.post("/logout", data=form)
    assert out.status_code == 302
    assert "/login" in out.headers["Location"]
    after = client.get("/home")
    assert after.status_code == 302 and "/login" in after.headers["Location"]


def test_portal_login_refuses_a_wrong_password_and_is_throttled(app, make):
    make.admin(make.group(), email="ops@example.test")
    client = app.test_client()
    for _ in range(MAX):
        refused = portal_login(client, "ops@example.test", "wrong-password", "192.0.2.80")
        assert refused.status_code == 401
        assert "Wrong email or password" in refused.data.decode()
    throttled = portal_login(client, "ops@example.test", PASSWORD, "192.0.2.81")
    assert throttled.status_code == 429
    assert "Too many failed logins" in throttled.data.decode()
    assert client.get("/home").status_code == 302  # not signed in
