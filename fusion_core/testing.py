"""Fusion's pytest fixtures, shipped as a pytest plugin (entry point `pytest11`).

A connector's tests get them with no conftest at all once `fusion` is installed:

* `app` — one app per test session on a database of its own (SQLite by default, PostgreSQL
  when FUSION_TEST_DATABASE_URL is set), migrated with the real migrations; jobs run eagerly;
* every test starts on empty tables (an autouse reset after each test);
* `make` — factories for organisations, subscriptions, administrators and tokens;
* `api` — a JSON test client; `api.as_(admin)` sends that administrator's token;
* `PortalClient(app, admin)` — a portal client signed in as `admin`, sending the CSRF token of
  the last page it got like a browser (a connector's page tests use it).

With FUSION_REQUIRE_SERVICES=1 (CI) a test that needs PostgreSQL or Redis fails when the
service is not configured or not reachable, instead of being skipped.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from fusion_core.app import create_app
from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import Base, get_db
from fusion_core.migrations import upgrade

PASSWORD = "correct-horse-battery"


def services_required() -> bool:
    return os.environ.get("FUSION_REQUIRE_SERVICES") == "1"


def need_service(name: str, env: str) -> str:
    """The URL of a service a test needs: skip without it, or fail in CI."""
    url = os.environ.get(env)
    if not url:
        message = f"{name} not configured: set {env}"
        if services_required():
            pytest.fail(message + " (FUSION_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    return url


# --- database -------------------------------------------------------------------------------


def _create_pg_database(server_url: str) -> tuple[str, Any]:
    url = make_url(server_url)
    name = f"fusion_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def fusion_database_url(tmp_path_factory) -> Iterator[str]:
    """A database of this test run's own: created here, dropped at the end."""
    server = os.environ.get("FUSION_TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'fusion-test.db'}"
        return
    url, drop = _create_pg_database(server)
    try:
        yield url
    finally:
        drop()


def settings_for_tests(database_url: str, tmp_path, **overrides: Any) -> dict[str, Any]:
    settings = {
        "ENV": "testing",
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path),
        "JOBS_MODE": "eager",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
    }
    settings.update(overrides)
    return settings


@pytest.fixture(scope="session")
def app(fusion_database_url, tmp_path_factory):
    application = create_app(
        settings_for_tests(fusion_database_url, tmp_path_factory.mktemp("inst"))
    )
    with application.app_context():
        upgrade(application)
    return application


def reset_database(application) -> None:
    """Empty every table (the audit log too, which only a test may do).

    Only tables this database has: an app with an allow-list lacks the others' branches."""
    engine = application.extensions["fusion.db"].engine
    existing = set(inspect(engine).get_table_names())
    tables = [t.name for t in Base.metadata.sorted_tables if t.name in existing]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            return
        conn.execute(text("UPDATE organizations SET parent_id = NULL"))  # self-reference
        conn.execute(text("DROP TRIGGER IF EXISTS audit_entries_no_delete"))
        for table in reversed(tables):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(
            text(
                "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries "
                "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: DELETE refused'); END"
            )
        )


@pytest.fixture(autouse=True)
def _fusion_clean_database(request):
    yield
    if "app" in request.fixturenames:
        reset_database(request.getfixturevalue("app"))


@pytest.fixture
def app_ctx(app):
    with app.app_context(), acting_as(SYSTEM):
        yield app
        get_db().session.rollback()


# --- factories and client -------------------------------------------------------------------


class Factory:
    """Builds rows through the services, as the system actor (so each is audited as usual)."""

    def __init__(self, app) -> None:
        self.app = app
        self.counter = 0

    def _n(self) -> int:
        self.counter += 1
        return self.counter

    def _run(self, fn, *args, **kwargs):
        with self.app.app_context(), acting_as(SYSTEM):
            session = get_db().session
            result = fn(session, *args, **kwargs)
            session.commit()
            return result

    def group(self, name: str | None = None, **branding):
        from fusion_core.hierarchy.services import create_group

        return self._run(lambda s: create_group(s, name or f"Group {self._n()}", branding or None))

    def org(self, kind: str, parent, name: str | None = None, **kwargs):
        from fusion_core.hierarchy.services import create_organization

        return self._run(
            lambda s: create_organization(
                s, kind, parent.id, name or f"{kind.title()} {self._n()}", **kwargs
            )
        )

    def tree(self) -> dict[str, Any]:
        """group → distributor → reseller → tenant, with a second reseller and tenant beside."""
        group = self.group()
        distributor = self.org("distributor", group)
        reseller = self.org("reseller", distributor)
        tenant = self.org("tenant", reseller)
        sibling_reseller = self.org("reseller", distributor)
        sibling_tenant = self.org("tenant", sibling_reseller)
        return {
            "group": group,
            "distributor": distributor,
            "reseller": reseller,
            "tenant": tenant,
            "sibling_reseller": sibling_reseller,
            "sibling_tenant": sibling_tenant,
        }

    def subscription(self, tenant, platform: str | None = None, **kwargs):
        from fusion_core.hierarchy.models import Organization
        from fusion_core.hierarchy.services import create_subscription

        platform = platform or sorted(self.app.extensions["fusion"].registry.platforms)[0]

        def run(s):
            return create_subscription(
                s, s.get(Organization, tenant.id), platform, kwargs.pop("name", "Sub"), **kwargs
            )

        return self._run(run)

    def admin(self, org, role: str = "admin", email: str | None = None, password: str = PASSWORD):
        from fusion_core.hierarchy.models import Organization
        from fusion_core.iam.services import create_admin

        email = email or f"admin{self._n()}-{uuid.uuid4().hex[:6]}@example.test"
        return self._run(
            lambda s: create_admin(
                s, s.get(Organization, org.id), email, f"Admin {email}", role, password
            )
        )

    def token(self, admin, **kwargs) -> str:
        from fusion_core.iam.models import Admin
        from fusion_core.iam.services import issue_token

        return self._run(lambda s: issue_token(s, s.get(Admin, admin.id), "test", **kwargs))[1]


@pytest.fixture
def make(app) -> Factory:
    return Factory(app)


class ApiClient:
    """JSON requests against /api/v1 with an optional bearer token."""

    def __init__(self, app, factory: Factory, token: str | None = None) -> None:
        self.app = app
        self.factory = factory
        self.client = app.test_client()
        self.token = token

    def as_(self, admin) -> ApiClient:
        return ApiClient(self.app, self.factory, self.factory.token(admin))

    def request(self, method: str, path: str, json: Any = None, headers=None, **kwargs):
        headers = dict(headers or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        if not path.startswith("/"):
            path = "/api/v1/" + path
        return self.client.open(path, method=method, json=json, headers=headers, **kwargs)

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw):
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw):
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api(app, make) -> ApiClient:
    return ApiClient(app, make)


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class PortalClient:
    """The portal's forms as a browser posts them: keeps the CSRF token of the last page it
    got and sends it with every POST. `PortalClient(app, admin)` signs in at once; `host`
    picks the group whose branding the pages wear."""

    def __init__(self, app, admin=None, host: str = "localhost") -> None:
        self.client = app.test_client()
        self.base = f"http://{host}"
        self.token: str | None = None
        if admin is not None:
            self.login(admin)

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

    def login(self, admin, password: str = PASSWORD) -> PortalClient:
        self.get("/login")
        response = self.post("/login", {"email": admin.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return self
