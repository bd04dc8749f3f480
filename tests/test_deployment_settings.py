"""Settings an operator turns on in production: trusted proxies, and migrations of disabled plugins."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from fusion_core.app import create_app
from fusion_core.migrations import upgrade
from fusion_core.testing import settings_for_tests


def test_without_trusted_proxies_forwarded_headers_are_ignored(app, make):
    admin = make.admin(make.group())
    client = app.test_client()
    for _ in range(app.config["FUSION"]["LOGIN_MAX_FAILURES"]):
        client.post(
            "/api/v1/auth/tokens",
            json={"email": admin.email, "password": "wrong-password!"},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
    # The failures were counted against the TCP peer, not the forged header.
    from fusion_core.db import get_db
    from fusion_core.iam.models import LoginThrottle

    with app.app_context():
        keys = {row.key for row in get_db().session.query(LoginThrottle)}
    assert "addr:127.0.0.1" in keys
    assert "addr:203.0.113.9" not in keys


def test_trusted_proxy_supplies_client_address_and_host(fusion_database_url, tmp_path):
    proxied = create_app(settings_for_tests(fusion_database_url, tmp_path, TRUSTED_PROXIES=1))
    seen = {}

    @proxied.get("/whoami-test")
    def whoami():
        from flask import request

        seen.update(addr=request.remote_addr, host=request.host, scheme=request.scheme)
        return "ok"

    response = proxied.test_client().get(
        "/whoami-test",
        headers={
            "X-Forwarded-For": "198.51.100.7",
            "X-Forwarded-Host": "portal.example",
            "X-Forwarded-Proto": "https",
        },
    )
    assert response.status_code == 200
    assert seen == {"addr": "198.51.100.7", "host": "portal.example", "scheme": "https"}


def test_upgrade_finds_revisions_of_a_plugin_left_out_of_the_allow_list(tmp_path):
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    everything = create_app(settings_for_tests(url, tmp_path))
    with everything.app_context():
        upgrade(everything)
    with create_engine(url).connect() as conn:
        before = sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    assert any(v.startswith("core_") for v in before)

    portal_only = create_app(settings_for_tests(url, tmp_path, PLUGINS=["portal"]))
    with portal_only.app_context():
        upgrade(portal_only)  # raised "Can't locate revision" before
    with create_engine(url).connect() as conn:
        after = sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    assert after == before


def test_public_token_exchange_needs_no_security_in_the_openapi_document(api):
    spec = api.get("openapi.json").json
    assert spec["paths"]["/api/v1/auth/tokens"]["post"]["security"] == []
    assert "security" not in spec["paths"]["/api/v1/auth/tokens"]["get"]
    assert spec["security"] == [{"bearerAuth": []}]


def test_fusion_environment_variables_override_the_embedded_defaults(monkeypatch, tmp_path):
    from fusion_core.config import load_settings

    defaults = load_settings({"INSTANCE_PATH": str(tmp_path)})
    assert defaults["DATABASE_URL"] == f"sqlite:///{tmp_path / 'fusion.db'}"
    assert (defaults["JOBS_MODE"], defaults["MAX_BODY_BYTES"]) == ("thread", 1_048_576)
    monkeypatch.setenv("FUSION_DATABASE_URL", "postgresql+psycopg://db.example/fusion")
    monkeypatch.setenv("FUSION_REDIS_URL", "redis://cache.example:6379/2")
    monkeypatch.setenv("FUSION_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("FUSION_JOB_BACKOFF_SECONDS", "0.5")
    monkeypatch.setenv("FUSION_PLUGINS", "portal, siptrunk")
    monkeypatch.setenv("FUSION_SMTP_URL", "smtp://mail.example:25")
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)})
    assert settings["DATABASE_URL"] == "postgresql+psycopg://db.example/fusion"
    assert settings["REDIS_URL"] == "redis://cache.example:6379/2"
    assert settings["JOBS_MODE"] == "rq"  # the default follows the Redis URL
    assert (settings["MAX_BODY_BYTES"], settings["JOB_BACKOFF_SECONDS"]) == (2048, 0.5)
    assert settings["PLUGINS"] == ["portal", "siptrunk"]
    assert settings["SMTP_URL"] == "smtp://mail.example:25"


def test_production_refuses_the_default_or_a_short_secret(monkeypatch, tmp_path):
    import pytest

    from fusion_core.config import DEFAULT_SECRET_KEY

    base = {"ENV": "production", "INSTANCE_PATH": str(tmp_path)}
    base["DATABASE_URL"] = f"sqlite:///{tmp_path / 'prod.db'}"
    for secret in (DEFAULT_SECRET_KEY, "short-secret"):
        with pytest.raises(RuntimeError, match="FUSION_SECRET_KEY"):
            create_app({**base, "SECRET_KEY": secret})
    app = create_app({**base, "SECRET_KEY": "k" * 40})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_readyz_reports_each_dependency(fusion_database_url, tmp_path):
    app = create_app(settings_for_tests(fusion_database_url, tmp_path))
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "checks": {"database": "ok"}}
    down = create_app(
        settings_for_tests(fusion_database_url, tmp_path, REDIS_URL="redis://127.0.0.1:9/0")
    )
    answer = down.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["status"] == "not_ready"
    assert answer.json["checks"]["database"] == "ok"
    assert answer.json["checks"]["redis"].startswith("error:")
