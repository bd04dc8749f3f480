"""The plugin contract end to end, with the example plugin that implements every hook.

The example plugin (tests/plugins/fusion_example) is not installed in the shared environment:
most tests register it with PLUGIN_OBJECTS on an app of their own, over a database of their
own (its migration branch adds a table); one test installs it as a real distribution on sys.path
and lets entry-point discovery find it.
"""

from __future__ import annotations

import ast
import importlib
import types
import uuid
from pathlib import Path

import pluggy
import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from fusion_core.app import create_app
from fusion_core.audit.models import AuditEntry
from fusion_core.cli import main
from fusion_core.context import SYSTEM, Actor, acting_as
from fusion_core.db import get_db
from fusion_core.hookspecs import hookimpl
from fusion_core.jobs.models import SyncStatus
from fusion_core.jobs.runner import ThreadRunner
from fusion_core.migrations import upgrade
from fusion_core.plugins import discover, menu, plugin_names
from fusion_core.registry import PluginConflict
from fusion_core.testing import ApiClient, Factory, reset_database, settings_for_tests

EXAMPLE_DIR = Path(__file__).parent / "plugins" / "fusion_example"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def example():
    """The example plugin's module, importable from its source folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(EXAMPLE_DIR))
        yield importlib.import_module("fusion_example.plugin")


@pytest.fixture(scope="module")
def example_app(example, tmp_path_factory):
    """An app with only the built-ins and the example plugin, on a fresh, migrated database."""
    import os

    from fusion_core.testing import _create_pg_database

    drop = None
    server = os.environ.get("FUSION_TEST_DATABASE_URL")
    if server:
        url, drop = _create_pg_database(server)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('example') / 'example.db'}"
    app = create_app(
        {
            **settings_for_tests(url, tmp_path_factory.mktemp("inst"), PLUGINS=[]),
            "PLUGIN_OBJECTS": [("example", example)],
        }
    )
    with app.app_context():
        upgrade(app)
    yield app
    app.extensions["fusion.db"].engine.dispose()
    if drop:
        drop()


@pytest.fixture
def ex(example_app, example):
    """The example app, emptied after each test."""
    example.RECEIVED.clear()
    example.RECONCILED.clear()
    example.ATTEMPTS.clear()
    yield example_app
    reset_database(example_app)
    with example_app.extensions["fusion.db"].engine.begin() as conn:
        conn.execute(text("DELETE FROM example_notes"))


@pytest.fixture
def ex_make(ex):
    return Factory(ex)


@pytest.fixture
def ex_api(ex, ex_make):
    return ApiClient(ex, ex_make)


def in_app(app, fn):
    with app.app_context(), acting_as(SYSTEM):
        return fn(get_db().session)


# --- every hook, through the example plugin -------------------------------------------------


def test_register_platforms_the_platform_takes_subscriptions(ex_api, ex_make):
    group = ex_make.group()
    tenant = ex_make.org("tenant", group)
    client = ex_api.as_(ex_make.admin(group))

    platforms = client.get("platforms")
    assert platforms.json == [
        {
            "key": "example",
            "name": "Example",
            "description": "The connector of the docs.",
            "plugin": "example",
        }
    ]
    created = client.post(
        f"tenants/{tenant.id}/subscriptions", {"platform": "example", "name": "Example seats"}
    )
    assert created.status_code == 201, created.json
    assert created.json["platform"] == "example"
    refused = client.post(f"tenants/{tenant.id}/subscriptions", {"platform": "teams", "name": "x"})
    assert refused.status_code == 422
    assert "example" in refused.json["errors"]["platform"][0]


def test_register_api_blueprints_routes_are_documented_and_answer(ex_api, ex_make):
    spec = ex_api.get("openapi.json").json
    assert "/api/v1/example/status" in spec["paths"]
    assert "post" in spec["paths"]["/api/v1/example/organizations/{organization_id}/sync"]

    assert ex_api.get("example/status").status_code == 401  # API auth applies to plugins too
    admin = ex_make.admin(ex_make.group(), email="ops@example.test")
    answer = ex_api.as_(admin).get("example/status")
    assert answer.status_code == 200
    # `drivers` comes from the plugin's own hookspec, added through register_hookspecs.
    assert answer.json == {
        "plugin": "example",
        "actor": "ops@example.test",
        "drivers": ["loopback"],
    }


def test_register_hookspecs_adds_callable_specs(ex):
    pm = ex.extensions["fusion.plugins"]
    assert pm.hook.example_drivers() == [["loopback"]]
    assert "example_drivers" in {
        caller.name for caller in pm.get_hookcallers(pm.get_plugin("example"))
    }


def test_register_blueprints_portal_page_serves(ex):
    page = ex.test_client().get("/example/")
    assert page.status_code == 200
    assert b"<h1>Example platform</h1>" in page.data


def test_register_jobs_and_event_types_sync_runs_after_commit(ex, ex_api, ex_make, example):
    group = ex_make.group()
    tenant = ex_make.org("tenant", group, name="Acme")
    queued = ex_api.as_(ex_make.admin(group)).post(f"example/organizations/{tenant.id}/sync")
    assert queued.status_code == 202, queued.json
    assert queued.json == {"organization_id": str(tenant.id), "state": "pending"}

    def check(session):
        status = session.scalar(select(SyncStatus).filter_by(entity_id=str(tenant.id)))
        assert (status.state, status.target, status.attempts) == ("in_sync", "example", 0)
        jobs_audit = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_type == "sync_statuses", AuditEntry.via == "job"
            )
        ).all()
        assert [(e.actor, e.action) for e in jobs_audit] == [("job:example.sync", "update")]
        assert jobs_audit[0].changes["state"] == ["pending", "in_sync"]

    in_app(ex, check)
    # event_committed saw the job's event, once, after the job's transaction committed.
    synced = [e for e in example.RECEIVED if e.type == "example.synced"]
    assert [e.payload["id"] for e in synced] == [str(tenant.id)]


def test_failing_job_retries_then_on_failure_marks_failed(ex, ex_api, ex_make, example):
    group = ex_make.group()
    tenant = ex_make.org("tenant", group, name="Failing Co")
    queued = ex_api.as_(ex_make.admin(group)).post(f"example/organizations/{tenant.id}/sync")
    assert queued.status_code == 202

    assert example.ATTEMPTS[str(tenant.id)] == 3  # max_attempts of example.sync

    def check(session):
        status = session.scalar(select(SyncStatus).filter_by(entity_id=str(tenant.id)))
        assert status.state == "failed"
        assert status.attempts == 1
        assert status.last_error == "RuntimeError: the example platform refused the organisation"

    in_app(ex, check)
    assert not [e for e in example.RECEIVED if e.type == "example.synced"]


def test_register_schedules_run_by_the_thread_runner(ex, example):
    assert ex.extensions["fusion"].registry.schedules["example.nightly-reconcile"].every == 86400
    runner = ThreadRunner(ex, backoff_base=0)
    runner.start_schedules()
    runner.start_schedules()  # idempotent
    assert runner.join(timeout=30)
    assert example.RECONCILED == ["job:example.reconcile"]  # due at start, next one in a day


def test_register_migrations_load_demo_data_and_cli_commands(ex):
    # The branch's head is recorded (core_0001 is implied: example_0001 depends on it).
    assert "example_0001" in versions_of(ex)
    with ex.app_context():
        assert in_app(ex, lambda s: s.scalar(text("SELECT count(*) FROM example_notes"))) == 0
    runner = ex.test_cli_runner()
    loaded = runner.invoke(main, ["demo", "load"])
    assert loaded.exit_code == 0, loaded.output
    # The plugin's command runs under `fusion`, in an app context.
    result = runner.invoke(main, ["example-notes"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["welcome Acme Corp", "welcome Globex", "welcome Initech"]


def versions_of(app) -> set[str]:
    with app.extensions["fusion.db"].engine.connect() as conn:
        return set(conn.scalars(text("SELECT version_num FROM alembic_version")))


def test_menu_items_through_the_core_helper(ex):
    def actor(kind):
        return Actor(label="a", via="portal", admin_id=uuid.uuid4(), org_kind=kind, role="admin")

    with ex.app_context():
        group_menu = menu(actor("group"))
        tenant_menu = menu(actor("tenant"))
        anonymous = menu(Actor(label="anonymous", via="portal"))
    assert [(i.section, i.label, i.url) for i in group_menu] == [
        ("platforms", "Example", "/example/"),
        ("settings", "Example settings", "/example/settings"),
    ]
    assert [i.label for i in tenant_menu] == ["Example"]
    assert anonymous == []


def test_deletion_blockers_refuse_and_name_the_reason(ex_api, ex_make):
    group = ex_make.group()
    client = ex_api.as_(ex_make.admin(group))
    locked = ex_make.org("tenant", group, name="Shop (locked)")
    refused = client.delete(f"tenants/{locked.id}")
    assert refused.status_code == 409
    assert refused.json["errors"]["id"] == ["it holds example resources"]
    assert client.get(f"tenants/{locked.id}").status_code == 200

    tenant = ex_make.org("tenant", group)
    sub = ex_make.subscription(tenant, "example", billing_id="EXAMPLE-LOCKED")
    refused = client.delete(f"subscriptions/{sub.id}")
    assert refused.status_code == 409
    assert refused.json["errors"]["id"] == ["its example devices are still provisioned"]
    free = ex_make.subscription(tenant, "example")
    assert client.delete(f"subscriptions/{free.id}").status_code == 204


def test_register_sku_kinds_and_register_number_targets(ex):
    from fusion_core.numbering.targets import collect

    assert ex.extensions["fusion"].registry.sku_kinds["example_seat"].name == "Example seat"
    assert ex.extensions["fusion"].registry.owners[("sku_kinds", "example_seat")] == "example"
    target = collect(ex)["example.device"]
    assert target.platforms == ("example",)
    assert target.validate(None, "device-7") is None
    assert target.validate(None, "phone-7") == "'phone-7' is not an example device"


def test_register_permissions_listed_with_the_callers_grant_and_enforced(ex, ex_api, ex_make):
    group = ex_make.group()
    reseller = ex_make.org("reseller", ex_make.org("distributor", group))
    tenant = ex_make.org("tenant", reseller, name="Acme")
    registry = ex.extensions["fusion"].registry
    assert registry.owners[("permissions", "example.sync")] == "example"
    assert registry.owners[("permissions", "orders.place")] == "fusion_core.builtin"

    def listed(admin):
        body = ex_api.as_(admin).get("permissions").json
        return {p["key"]: p for p in body}

    as_reseller = listed(ex_make.admin(reseller))
    assert as_reseller["example.sync"] == {
        "key": "example.sync",
        "action": "push organisations to the example platform",
        "description": "",
        "levels": ["group", "distributor", "reseller"],
        "write": True,
        "plugin": "example",
        "granted": True,
    }
    assert as_reseller["orders.place"]["granted"] is False  # the group's alone
    assert listed(ex_make.admin(tenant))["example.sync"]["granted"] is False
    assert listed(ex_make.admin(reseller, role="read_only"))["example.sync"]["granted"] is False
    assert listed(ex_make.admin(group))["orders.place"]["granted"] is True

    path = f"example/organizations/{tenant.id}/sync"
    refused = ex_api.as_(ex_make.admin(tenant)).post(path)
    assert refused.status_code == 403
    assert refused.json["message"] == (
        "Tenants cannot push organisations to the example platform; their provider does."
    )
    assert refused.json["code"] == "forbidden"
    read_only = ex_api.as_(ex_make.admin(reseller, role="read_only")).post(path)
    assert read_only.status_code == 403
    assert read_only.json["message"] == "Your role is read-only: this action needs the admin role."
    assert ex_api.as_(ex_make.admin(reseller)).post(path).status_code == 202


def test_tenant_cards_subscription_tabs_and_global_search(ex, ex_make):
    tenant = ex_make.org("tenant", ex_make.group(), name="<Acme>")
    example_sub = ex_make.subscription(tenant, "example")
    pm = ex.extensions["fusion.plugins"]
    admin = Actor(label="a", via="portal", admin_id=uuid.uuid4(), org_kind="group", role="admin")
    with ex.app_context():
        cards = [c for cs in pm.hook.tenant_cards(actor=admin, tenant=tenant) for c in cs]
        tabs = [
            t for ts in pm.hook.subscription_tabs(actor=admin, subscription=example_sub) for t in ts
        ]
        found = [r for rs in pm.hook.global_search(actor=admin, query="loop", limit=5) for r in rs]
        nothing = pm.hook.global_search(actor=admin, query="acme", limit=5)
    assert sorted(c.key for c in cards) == ["example", "numbers"]  # the core's Numbers card
    assert [(c.key, str(c.body)) for c in cards if c.key == "example"] == [
        ("example", "<p>Example devices of &lt;Acme&gt;: none yet.</p>")
    ]
    assert sorted((t.key, t.label) for t in tabs) == [  # the core's Numbers tab beside the plugin's
        ("example-settings", "Example settings"),
        ("numbers", "Numbers"),
    ]
    assert [(r.kind, r.label, r.url) for r in found] == [
        ("Example devices", "loopback", "/example/")
    ]
    assert [r for results in nothing for r in results] == []  # no provider finds "acme"


def test_event_committed_after_commit_never_after_rollback(ex, example):
    from fusion_core.events import emit

    def emit_then(finish):
        def run(session):
            emit(session, "example.synced", "/x/", id="one")
            finish(session)

        return run

    in_app(ex, emit_then(lambda s: s.rollback()))
    assert example.RECEIVED == []
    in_app(ex, emit_then(lambda s: s.commit()))
    assert [(e.type, e.payload) for e in example.RECEIVED] == [("example.synced", {"id": "one"})]


# --- clashes stop start-up ------------------------------------------------------------------


def fake_plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        fn.__name__ = hook_name
        setattr(module, hook_name, hookimpl(fn))
    return module


def build(tmp_path, *plugins, **settings):
    return create_app(
        {
            **settings_for_tests(f"sqlite:///{tmp_path / 'clash.db'}", tmp_path, PLUGINS=[]),
            **settings,
            "PLUGIN_OBJECTS": [(p.__name__, p) for p in plugins],
        }
    )


def _portal(name, path):
    from flask import Blueprint

    blp = Blueprint(name, __name__)
    blp.add_url_rule(path, "page", lambda: "x")
    return blp


def _api(name, path):
    from flask_smorest import Blueprint

    blp = Blueprint(name, __name__, url_prefix="/clash")
    blp.add_url_rule(path, "op", lambda: {}, methods=["GET"])
    return blp


def _clashes():
    from fusion_core.events import EventType
    from fusion_core.jobs import JobDefinition
    from fusion_core.permissions import Permission
    from fusion_core.registry import Platform

    def job(name):
        return JobDefinition(name, lambda: None)

    return {
        "platform": ("register_platforms", lambda n: [Platform("voice", n)], "platform 'voice'"),
        "event type": ("register_event_types", lambda n: [EventType("x.done")], "event type"),
        "job": ("register_jobs", lambda n: [job("x.sync")], "job 'x.sync'"),
        "permission": (
            "register_permissions",
            lambda n: [Permission("x.reset", f"reset for {n}")],
            "permission 'x.reset'",
        ),
        "blueprint": ("register_blueprints", lambda n: [_portal("pages", f"/{n}")], "blueprint"),
        "portal route": ("register_blueprints", lambda n: [_portal(n, "/same")], "GET /same"),
        "api route": (
            "register_api_blueprints",
            lambda n: [_api(n, "/<id:a>" if n == "alpha" else "/<id:b>")],
            "GET /api/v1/clash/<>",
        ),
        "cli command": (
            "register_cli_commands",
            lambda n: [__import__("click").Command("same", callback=lambda: None)],
            "command 'same'",
        ),
    }


@pytest.mark.parametrize("kind", list(_clashes()))
def test_clashes_stop_start_up_naming_both_plugins(tmp_path, kind):
    hook, make_items, what = _clashes()[kind]
    alpha = fake_plugin("alpha", **{hook: lambda: make_items("alpha")})
    beta = fake_plugin("beta", **{hook: lambda: make_items("beta")})
    with pytest.raises(PluginConflict) as error:
        build(tmp_path, alpha, beta)
    message = str(error.value)
    assert what in message
    assert "alpha" in message and "beta" in message
    build(tmp_path, alpha)  # either alone starts


def test_a_schedule_naming_an_unknown_job_stops_start_up(tmp_path):
    from fusion_core.jobs import Schedule

    bad = fake_plugin(
        "alpha", register_schedules=lambda: [Schedule("nightly", job="nowhere.sync", every=60)]
    )
    with pytest.raises(
        PluginConflict,
        match=r"schedule 'nightly' of plugin 'alpha' names unknown job 'nowhere\.sync'",
    ):
        build(tmp_path, bad)


def test_a_plugin_route_cannot_shadow_a_core_route(tmp_path):
    shadow = fake_plugin("alpha", register_blueprints=lambda: [_portal("alpha", "/healthz")])
    with pytest.raises(PluginConflict, match=r"GET /healthz .*alpha"):
        build(tmp_path, shadow)


def test_check_pending_catches_a_misspelt_hook(tmp_path):
    typo = fake_plugin("typo", register_platfroms=lambda: [])
    with pytest.raises(pluggy.PluginValidationError, match="register_platfroms"):
        build(tmp_path, typo)


# --- entry-point discovery and the FUSION_PLUGINS allow-list ---------------------------------


@pytest.fixture
def installed_example(tmp_path, monkeypatch):
    """Install the example plugin as a distribution that importlib.metadata finds."""
    site = tmp_path / "site"
    dist_info = site / "fusion_example-0.1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fusion-example\nVersion: 0.1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[fusion.plugins]\nexample = fusion_example.plugin\n"
    )
    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))
    monkeypatch.syspath_prepend(str(site))
    assert "example" in {ep.name for ep in discover()}
    return site


def discovered_app(app, tmp_path, **settings):
    """An app built like production (entry points), on the session's migrated database."""
    url = app.config["FUSION"]["DATABASE_URL"]
    return create_app(settings_for_tests(url, tmp_path / "inst", **settings))


def test_entry_point_discovery_end_to_end(app, installed_example, tmp_path):
    discovered = discovered_app(app, tmp_path)
    assert {"example", "siptrunk", "teams", "anywherenow", "portal"} <= set(
        plugin_names(discovered.extensions["fusion.plugins"])
    )
    factory = Factory(discovered)
    client = ApiClient(discovered, factory)
    spec = client.get("openapi.json").json
    assert "/api/v1/example/status" in spec["paths"]
    admin = factory.admin(factory.group(), email="found@example.test")
    answer = client.as_(admin).get("example/status")
    assert answer.status_code == 200
    assert answer.json["plugin"] == "example"

    listing = discovered.test_cli_runner().invoke(main, ["plugins", "list"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert "example  fusion-example 0.1.0  loaded" in lines
    assert "    platforms: example" in lines
    assert "    jobs: example.reconcile, example.sync" in lines
    assert "    schedules: example.nightly-reconcile" in lines
    assert "    blueprints: example, example_api" in lines
    assert "    commands: example-notes" in lines
    assert any(
        line.startswith("siptrunk  fusion-siptrunk ") and line.endswith("  loaded")
        for line in lines
    )


def test_allow_list_loads_only_the_listed_plugins(app, installed_example, tmp_path):
    only = discovered_app(app, tmp_path, PLUGINS=["example"])
    assert plugin_names(only.extensions["fusion.plugins"]) == ["example"]
    assert set(only.extensions["fusion"].registry.platforms) == {"example"}

    listing = only.test_cli_runner().invoke(main, ["plugins", "list"])
    lines = listing.output.splitlines()
    assert "example  fusion-example 0.1.0  loaded" in lines
    assert any(
        line.startswith("siptrunk  fusion-siptrunk ")
        and line.endswith("not loaded (FUSION_PLUGINS)")
        for line in lines
    )

    others = discovered_app(app, tmp_path, PLUGINS=["siptrunk"])
    assert plugin_names(others.extensions["fusion.plugins"]) == ["siptrunk"]
    assert "example_api" not in others.blueprints


def test_empty_allow_list_loads_only_the_built_ins(app, installed_example, tmp_path, monkeypatch):
    monkeypatch.setenv("FUSION_PLUGINS", "")
    url = app.config["FUSION"]["DATABASE_URL"]
    bare = create_app({k: v for k, v in settings_for_tests(url, tmp_path).items()})
    assert plugin_names(bare.extensions["fusion.plugins"]) == []
    assert dict(bare.extensions["fusion"].registry.platforms) == {}
    assert "portal" not in bare.blueprints and "platforms" in bare.blueprints


def test_an_unknown_allowed_name_is_a_clear_error(app, installed_example, tmp_path):
    with pytest.raises(RuntimeError) as error:
        discovered_app(app, tmp_path, PLUGINS=["example", "sipturnk"])
    message = str(error.value)
    assert "not installed: sipturnk" in message
    installed = message.split("(installed: ")[1]
    for name in ("example", "siptrunk", "teams", "anywherenow", "portal"):
        assert name in installed


# --- the core never imports a plugin or the portal -------------------------------------------


def test_the_core_never_imports_a_plugin_or_the_portal():
    plugin_packages = {ep.value.split(".")[0].split(":")[0] for ep in discover()}
    forbidden = (plugin_packages | {"webui", "fusion_example"}) - {"fusion_core"}
    assert "webui" in forbidden and "fusion_siptrunk" in forbidden
    offenders = []
    for path in sorted((ROOT / "fusion_core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
                names = [a.value for a in node.args if isinstance(a, ast.Constant)]
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                for name in names
                if isinstance(name, str) and name.split(".")[0] in forbidden
            ]
    assert offenders == []


def test_plugin_list_names_directly_registered_plugins(ex):
    listing = CliRunner().invoke(main, ["plugins", "list"], obj=_script_info(ex))
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert "example  (registered directly) -  loaded" in lines
    assert any(line.startswith("    hooks: ") and "event_committed" in line for line in lines)


def _script_info(app):
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)
