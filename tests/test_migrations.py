"""The migrations and the models agree, and `fusion db upgrade` applies every branch."""

from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from fusion_core.app import create_app
from fusion_core.cli import main
from fusion_core.db import Base
from fusion_core.migrations import alembic_config, include_object
from fusion_core.testing import _create_pg_database, settings_for_tests


@pytest.fixture
def upgraded(tmp_path):
    """A fresh database (SQLite, or PostgreSQL when configured) after `fusion db upgrade`."""
    server = os.environ.get("FUSION_TEST_DATABASE_URL")
    url, drop = _create_pg_database(server) if server else (f"sqlite:///{tmp_path / 'm.db'}", None)
    app = create_app(settings_for_tests(url, tmp_path / "instance"))
    result = app.test_cli_runner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    yield app
    app.extensions["fusion.db"].engine.dispose()
    if drop:
        drop()


def test_models_and_migrations_agree(upgraded):
    engine = upgraded.extensions["fusion.db"].engine
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"write a migration (fusion db revision -m ...): {diff}"


def test_upgrade_applies_the_core_and_every_plugin_branch(upgraded):
    script = ScriptDirectory.from_config(alembic_config(upgraded))
    branches = {label for rev in script.walk_revisions() for label in rev.branch_labels}
    assert {"core", "siptrunk", "teams", "anywherenow"} <= branches
    with upgraded.extensions["fusion.db"].engine.connect() as conn:
        recorded = set(conn.scalars(text("SELECT version_num FROM alembic_version")))
        current = set(MigrationContext.configure(conn).get_current_heads())
    # Every branch's head is applied; alembic keeps one row per head it has not
    # superseded (a head that another branch depends on is implied by that branch).
    applied = {rev.revision for rev in script.iterate_revisions(tuple(current), "base")}
    assert set(script.get_heads()) <= applied | recorded
    assert {rev.revision for rev in script.walk_revisions()} == applied
    for branch in branches:
        head = script.get_revision(f"{branch}@head").revision
        assert head in applied, branch
    assert recorded == current
    assert len(recorded) == len(set(script.get_heads()) - _implied(script))


def _implied(script: ScriptDirectory) -> set[str]:
    """Heads that another revision depends on: alembic records the dependent one instead."""
    return {
        dep
        for rev in script.walk_revisions()
        for dep in (rev._resolved_dependencies or ())
        if dep in set(script.get_heads())
    }


def test_postgresql_gets_trigram_indexes_for_organisation_search(upgraded):
    engine = upgraded.extensions["fusion.db"].engine
    if engine.dialect.name != "postgresql":
        pytest.skip("trigram indexes are PostgreSQL's (core_0003)")
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'organizations'")
        ).all()
        found = {name: definition for name, definition in rows}
        assert "gin (lower((name)::text) gin_trgm_ops)" in found["ix_organizations_name_trgm"]
        assert "ix_organizations_billing_id_trgm" in found
        conn.execute(text("SET enable_seqscan = off"))
        plan = conn.execute(
            text("EXPLAIN SELECT id FROM organizations WHERE lower(name) LIKE '%acme%'")
        ).scalars()
        assert "ix_organizations_name_trgm" in " ".join(plan)
