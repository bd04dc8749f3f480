"""Alembic, configured from the app: the core's versions plus one branch per plugin."""

from __future__ import annotations

import logging
import os
from pathlib import Path

# Quiet before importing alembic: it announces its autogenerate plugins at INFO on import.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from flask import Flask  # noqa: E402

from fusion_core.plugins import build_plugin_manager, call_each  # noqa: E402

HERE = Path(__file__).parent


# Indexes that only migrations manage, because the models cannot say them for every dialect
# (PostgreSQL's trigram GIN indexes, core_0003). Autogenerate and the models-agree test skip
# them instead of proposing to drop them.
MIGRATION_ONLY_INDEXES = frozenset(
    {"ix_organizations_name_trgm", "ix_organizations_billing_id_trgm"}
)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's `include_object`: everything but MIGRATION_ONLY_INDEXES."""
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)


def alembic_config(app: Flask) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    # Every installed plugin's branch, not only the allowed ones: a database that once ran a
    # plugin keeps its revisions, and Alembic must still find them when the plugin is disabled.
    locations: list[str] = []
    for pm in (app.extensions["fusion.plugins"], build_plugin_manager(None)):
        for _plugin, path in call_each(pm, "register_migrations"):
            if path not in locations:
                locations.append(path)
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(locations))
    cfg.attributes["app"] = app
    return cfg


def upgrade(app: Flask, revision: str = "heads") -> None:
    command.upgrade(alembic_config(app), revision)
