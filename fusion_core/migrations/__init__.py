"""Alembic, configured from the app: the core's versions plus one branch per plugin."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from flask import Flask

from fusion_core.plugins import call_each

HERE = Path(__file__).parent


def alembic_config(app: Flask) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    locations = [
        path for _plugin, path in call_each(app.extensions["fusion.plugins"], "register_migrations")
    ]
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(locations))
    cfg.attributes["app"] = app
    return cfg


def upgrade(app: Flask, revision: str = "heads") -> None:
    logging.getLogger("alembic").setLevel(logging.WARNING)
    command.upgrade(alembic_config(app), revision)
