"""Portal fixtures: a signed-in test client that sends CSRF tokens like a browser does."""

from __future__ import annotations

import re

import pytest

from fusion_core.testing import PASSWORD

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class PortalClient:
    def __init__(self, app, host: str = "localhost") -> None:
        self.client = app.test_client()
        self.base = f"http://{host}"
        self.token: str | None = None

    def get(self, path: str, **kw):
        response = self.client.get(self.base + path, **kw)
        found = CSRF_RE.search(response.get_data(as_text=True))
        if found:
            self.token = found.group(1)
        return response

    def post(self, path: str, data: dict | None = None, csrf: bool = True, **kw):
        data = dict(data or {})
        if csrf:
            if self.token is None:
                self.get("/login")
            data.setdefault("csrf_token", self.token)
        return self.client.post(self.base + path, data=data, **kw)

    def login(self, admin, password: str = PASSWORD):
        self.get("/login")
        response = self.post("/login", {"email": admin.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return self


@pytest.fixture
def portal(app):
    """portal() -> a fresh client; portal(admin) -> signed in as that administrator."""

    def make(admin=None, host: str = "localhost") -> PortalClient:
        client = PortalClient(app, host)
        return client.login(admin) if admin is not None else client

    return make


@pytest.fixture
def portal_client():
    """The client class, for apps other than the session's (e.g. with extra plugins)."""
    return PortalClient
