"""create_app(): the only way to build a Fusion application."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy
from flask import Flask, jsonify
from flask_smorest import Api
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix

from fusion_core import __version__, events, jobs, models  # noqa: F401 - models fill the metadata
from fusion_core.api import errors as api_errors
from fusion_core.api import http
from fusion_core.api.converters import IdConverter
from fusion_core.audit import recorder
from fusion_core.config import check_production, load_settings
from fusion_core.db import Database, get_db
from fusion_core.jobs.runner import make_runner
from fusion_core.plugins import build_plugin_manager, call_each
from fusion_core.registry import PluginConflict, Registry

log = logging.getLogger("fusion")


@dataclass
class Fusion:
    """What app.extensions["fusion"] holds: the plugin manager, the frozen registry, the API."""

    plugins: pluggy.PluginManager
    registry: Registry
    api: Api


class FusionApi(Api):
    ERROR_SCHEMA = api_errors.ErrorSchema

    def _register_error_handlers(self) -> None:  # our handlers are registered app-wide
        pass


def _configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_fusion", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler._fusion = True  # type: ignore[attr-defined]
        handler.addFilter(http.RequestIdFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
        root.addHandler(handler)
    root.setLevel(level)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an app. `config` overrides FUSION_* settings (same names, without the prefix);
    `PLUGIN_OBJECTS` (a list of (name, module-or-object)) registers plugins directly."""
    config = dict(config or {})
    extra_plugins = config.pop("PLUGIN_OBJECTS", None)
    flask_config = config.pop("FLASK", {})
    settings = load_settings(config)
    check_production(settings)
    Path(settings["INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    _configure_logging(settings["LOG_LEVEL"])

    app = Flask("fusion_core", instance_path=settings["INSTANCE_PATH"])
    app.config.update(
        FUSION=settings,
        SECRET_KEY=settings["SECRET_KEY"],
        TESTING=settings["ENV"] == "testing",
        MAX_CONTENT_LENGTH=settings["MAX_BODY_BYTES"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["ENV"] == "production",
        REMEMBER_COOKIE_HTTPONLY=True,
        API_TITLE="Fusion API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="v1/openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/vendor/swagger-ui-dist/",
        API_SPEC_OPTIONS={
            "info": {"description": "Fusion REST API. Authenticate with a bearer token."},
            "security": [{"bearerAuth": []}],
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
        **flask_config,
    )
    app.url_map.converters["id"] = IdConverter
    if proxies := settings["TRUSTED_PROXIES"]:
        # Behind a proxy the client address (login throttling, logs) and the host name
        # (branding) come from its X-Forwarded-* headers, trusted only that many hops deep.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    recorder.install()
    jobs.install()
    events.install()
    Database(app)

    pm = build_plugin_manager(settings["PLUGINS"], extra_plugins)
    app.extensions["fusion.plugins"] = pm
    registry = _collect(pm)
    api = FusionApi(app)
    api.register_converter(IdConverter, lambda _c: {"type": "string", "format": "uuid"})
    app.extensions["fusion"] = Fusion(plugins=pm, registry=registry, api=api)
    # Request id and API authentication run before any plugin's before_request hook.
    api_errors.register(app)
    http.install(app)

    # API and portal blueprints share Flask's one namespace: a name claimed twice is a clash.
    for plugin, blp in call_each(pm, "register_api_blueprints"):
        registry.add("blueprints", blp.name, blp, plugin)
        api.register_blueprint(blp, url_prefix=http.API_PREFIX + (blp.url_prefix or ""))
    for plugin, blp in call_each(pm, "register_blueprints"):
        registry.add("blueprints", blp.name, blp, plugin)
        app.register_blueprint(blp)
    _health(app)  # before the route check, so a plugin cannot shadow /healthz either
    _check_routes(
        app, {name: registry.owners[("blueprints", name)] for name in registry.blueprints}
    )
    for plugin, command in call_each(pm, "register_cli_commands"):
        registry.add("commands", command.name, command, plugin)
        app.cli.add_command(command)

    app.extensions["fusion.jobs"] = make_runner(app)
    registry.freeze()
    return app


def _collect(pm: pluggy.PluginManager) -> Registry:
    registry = Registry()
    for plugin, platform in call_each(pm, "register_platforms"):
        registry.add("platforms", platform.key, platform, plugin)
    for plugin, event_type in call_each(pm, "register_event_types"):
        registry.add("event_types", event_type.name, event_type, plugin)
    for plugin, sku_kind in call_each(pm, "register_sku_kinds"):
        registry.add("sku_kinds", sku_kind.key, sku_kind, plugin)
    for plugin, permission in call_each(pm, "register_permissions"):
        registry.add("permissions", permission.key, permission, plugin)
    for plugin, job in call_each(pm, "register_jobs"):
        registry.add("jobs", job.name, job, plugin)
    for plugin, schedule in call_each(pm, "register_schedules"):
        if schedule.job not in registry.jobs:
            raise PluginConflict(
                f"schedule {schedule.name!r} of plugin {plugin!r} names unknown job {schedule.job!r}"
            )
        registry.add("schedules", schedule.name, schedule, plugin)
    return registry


def _check_routes(app: Flask, owners: dict[str, str]) -> None:
    """Two plugins claiming one route (same path and method) stop start-up."""
    seen: dict[tuple[str, str], str] = {}
    clashes = defaultdict(set)
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else ""
        path = re.sub(r"<[^>]*>", "<>", rule.rule)  # /x/<a> and /x/<int:b> match the same URLs
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            key = (path, method)
            if key in seen and seen[key] != blueprint:
                clashes[key] |= {seen[key], blueprint}
            seen.setdefault(key, blueprint)
    if clashes:
        (path, method), blueprints = sorted(clashes.items())[0]
        plugins = sorted(owners.get(b, b or "the app") for b in blueprints)
        raise PluginConflict(
            f"route {method} {path} is claimed by more than one plugin: {', '.join(plugins)}"
        )


def _health(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        """Liveness: the process answers."""
        return jsonify(status="ok", version=__version__)

    @app.get("/readyz")
    def readyz():
        """Readiness: the database (and Redis when configured) answer."""
        checks = {}
        try:
            with get_db().engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        if app.config["FUSION"]["REDIS_URL"]:
            try:
                from redis import Redis

                Redis.from_url(app.config["FUSION"]["REDIS_URL"]).ping()
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"error: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return jsonify(status="ready" if ready else "not_ready", checks=checks), (
            200 if ready else 503
        )
