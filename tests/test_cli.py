"""The `fusion` command line on a fresh database (SQLite, or PostgreSQL when configured)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select, text

from fusion_core.app import create_app
from fusion_core.cli import main
from fusion_core.context import current_actor
from fusion_core.demo import DEMO_LOGINS, DEMO_PASSWORD
from fusion_core.hierarchy.models import Organization
from fusion_core.iam.models import Admin
from fusion_core.testing import ApiClient, Factory, _create_pg_database, settings_for_tests


@pytest.fixture
def fresh_url(tmp_path):
    """An empty database of this test's own."""
    server = os.environ.get("FUSION_TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url, drop = _create_pg_database(server)
    yield url
    drop()


@pytest.fixture
def fresh(fresh_url, tmp_path):
    application = create_app(settings_for_tests(fresh_url, tmp_path / "instance"))
    yield application
    application.extensions["fusion.db"].engine.dispose()


def fusion(application, *args: str):
    result = application.test_cli_runner().invoke(main, list(args))
    return result


def count(application, stmt) -> int:
    with application.extensions["fusion.db"].engine.connect() as conn:
        return conn.scalar(stmt)


def upgraded(application):
    result = fusion(application, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return application


def test_db_upgrade_creates_the_schema_on_a_fresh_database(fresh):
    result = fusion(fresh, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert result.output == "database is up to date\n"
    assert count(fresh, select(func.count()).select_from(Organization)) == 0
    versions = count(fresh, text("SELECT count(*) FROM alembic_version"))
    assert versions >= 2  # the core's head and at least one plugin branch
    again = fusion(fresh, "db", "upgrade")
    assert again.exit_code == 0, again.output
    assert count(fresh, text("SELECT count(*) FROM alembic_version")) == versions


def test_demo_load_twice_keeps_the_data_and_prints_the_logins(fresh):
    upgraded(fresh)
    first = fusion(fresh, "demo", "load")
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0] == "demo data loaded"
    assert f"demo logins (password for all: {DEMO_PASSWORD}):" in lines
    for level, email in DEMO_LOGINS:
        assert any(line.split() == [level, email] for line in lines), (level, lines)
    orgs = count(fresh, select(func.count()).select_from(Organization))
    assert orgs == 6  # a group, a distributor, a reseller and three tenants
    assert count(fresh, select(func.count()).select_from(Admin)) == len(DEMO_LOGINS)

    second = fusion(fresh, "demo", "load")
    assert second.exit_code == 0, second.output
    assert second.output.splitlines()[0] == "demo data already loaded (kept)"
    assert second.output.splitlines()[1:] == lines[1:]
    assert count(fresh, select(func.count()).select_from(Organization)) == orgs

    # The printed login works against the API.
    client = ApiClient(fresh, Factory(fresh))
    token = client.post("auth/tokens", {"email": DEMO_LOGINS[0][1], "password": DEMO_PASSWORD})
    assert token.status_code == 201, token.json


def test_admin_create_group_bootstraps_a_group_and_its_admin(fresh):
    upgraded(fresh)
    result = fusion(
        fresh,
        "admin",
        "create-group",
        "Acme Telecom",
        "--admin-email",
        "Boss@Acme.example",
        "--password",
        "a-long-enough-password",
    )
    assert result.exit_code == 0, result.output
    assert (
        result.output.endswith("boss@acme.example can log in\n")
        or "Boss@Acme.example can log in" in result.output
    )
    with fresh.app_context():
        from fusion_core.db import get_db

        session = get_db().session
        group = session.scalar(select(Organization).where(Organization.name == "Acme Telecom"))
        assert group.kind == "group" and str(group.id) in result.output
        admin = session.scalar(select(Admin).where(Admin.email == "boss@acme.example"))
        assert (admin.organization_id, admin.role) == (group.id, "admin")
    client = ApiClient(fresh, Factory(fresh))
    token = client.post(
        "auth/tokens", {"email": "boss@acme.example", "password": "a-long-enough-password"}
    )
    assert token.status_code == 201, token.json


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("boss@acme.example", "another-long-password", "email: Already in use."),
        ("new@acme.example", "short", "password: Use at least"),
        ("not-an-email", "another-long-password", "email: Not a valid email."),
    ],
)
def test_admin_create_group_errors_write_nothing(fresh, email, password, message):
    upgraded(fresh)
    ok = fusion(
        fresh,
        "admin",
        "create-group",
        "Acme",
        "--admin-email",
        "boss@acme.example",
        "--password",
        "a-long-enough-password",
    )
    assert ok.exit_code == 0, ok.output
    orgs = count(fresh, select(func.count()).select_from(Organization))
    audit = count(fresh, text("SELECT count(*) FROM audit_entries"))

    refused = fusion(
        fresh, "admin", "create-group", "Second", "--admin-email", email, "--password", password
    )
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: ")
    assert message in refused.output
    assert count(fresh, select(func.count()).select_from(Organization)) == orgs
    assert count(fresh, select(func.count()).select_from(Admin)) == 1
    assert count(fresh, text("SELECT count(*) FROM audit_entries")) == audit


def test_admin_token_prints_a_working_token(fresh):
    upgraded(fresh)
    fusion(
        fresh,
        "admin",
        "create-group",
        "Acme",
        "--admin-email",
        "boss@acme.example",
        "--password",
        "a-long-enough-password",
    )
    result = fusion(fresh, "admin", "token", "BOSS@acme.example")
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    client = ApiClient(fresh, Factory(fresh), token=token)
    me = client.get("auth/me")
    assert me.status_code == 200, me.json
    assert me.json["admin"]["email"] == "boss@acme.example"
    assert me.json["organization_name"] == "Acme"
    assert ApiClient(fresh, Factory(fresh), token=token + "x").get("auth/me").status_code == 401

    unknown = fusion(fresh, "admin", "token", "nobody@acme.example")
    assert unknown.exit_code == 1
    assert "no administrator with email nobody@acme.example" in unknown.output


def test_cli_changes_are_audited_as_the_cli_and_the_actor_is_restored(fresh):
    upgraded(fresh)
    before = current_actor()
    fusion(
        fresh,
        "admin",
        "create-group",
        "Acme",
        "--admin-email",
        "boss@acme.example",
        "--password",
        "a-long-enough-password",
    )
    assert current_actor() == before
    with fresh.extensions["fusion.db"].engine.connect() as conn:
        vias = set(conn.scalars(text("SELECT DISTINCT via FROM audit_entries")))
        actors = set(conn.scalars(text("SELECT DISTINCT actor FROM audit_entries")))
    assert vias == {"cli"}
    assert all(a.startswith("cli:") for a in actors)


def test_plugins_list_names_the_installed_plugins(fresh):
    result = fusion(fresh, "plugins", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name, dist in (
        ("siptrunk", "fusion-siptrunk"),
        ("teams", "fusion-teams"),
        ("anywherenow", "fusion-anywherenow"),
        ("portal", "fusion"),
    ):
        assert any(
            line.startswith(f"{name}  {dist} ") and line.endswith("  loaded") for line in lines
        )
    assert "    platforms: siptrunk" in lines


def test_worker_without_redis_is_a_clear_error(fresh):
    assert not fresh.config["FUSION"]["REDIS_URL"]
    result = fusion(fresh, "worker", "--burst")
    assert result.exit_code == 1
    assert "FUSION_REDIS_URL is not set" in result.output
