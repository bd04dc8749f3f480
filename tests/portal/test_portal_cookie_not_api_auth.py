"""The portal's signed cookie session is the portal's: the API neither reads nor writes it
(fusion_core.api.http.ApiWithoutCookieSession); bearer tokens are the API's only credential."""

from __future__ import annotations


def test_a_signed_in_portal_cookie_does_not_authenticate_api_calls(portal, make):
    admin = make.admin(make.group())
    browser = portal(admin)
    assert browser.get("/audit").status_code == 200  # signed in: the cookie works for the portal
    answer = browser.client.get("/api/v1/auth/me")
    assert answer.status_code == 401
    assert answer.json["code"] == "unauthorized"
    assert "Set-Cookie" not in answer.headers  # nothing written back either
    assert browser.get("/audit").status_code == 200  # and the portal session is untouched


def test_api_answers_set_no_cookie_with_a_token(api, make):
    admin = make.admin(make.group())
    answer = api.as_(admin).get("auth/me")
    assert answer.status_code == 200 and answer.json["admin"]["email"] == admin.email
    assert "Set-Cookie" not in answer.headers


def test_api_requests_get_the_null_session_and_portal_pages_the_cookie_session(app):
    from flask import session
    from flask.sessions import NullSession

    with app.test_request_context("/api/v1/tenants"):
        assert isinstance(session._get_current_object(), NullSession)
    with app.test_request_context("/login"):
        assert not isinstance(session._get_current_object(), NullSession)
        session["probe"] = 1  # the portal's session is writable
