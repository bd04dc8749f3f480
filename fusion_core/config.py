"""Settings: FUSION_* environment variables over embedded defaults.

Every setting has a default that makes `make run` work on a laptop (SQLite under
`instance/`, jobs in-process, mail printed to the log). Production sets
`FUSION_ENV=production`, which refuses the default secret key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_SECRET_KEY = "fusion-development-secret-change-me"

# name -> (default, parser, documentation); docs/operations.md lists the same table.
SETTINGS: dict[str, tuple[Any, Any, str]] = {
    "ENV": ("development", str, "development, production or testing"),
    "INSTANCE_PATH": ("instance", str, "folder for the SQLite database and local files"),
    "DATABASE_URL": (None, str, "SQLAlchemy URL; default: SQLite file in the instance folder"),
    "REDIS_URL": (None, str, "Redis URL: jobs run on rq workers when set, in-process otherwise"),
    "SECRET_KEY": (DEFAULT_SECRET_KEY, str, "signs sessions and CSRF tokens"),
    "PLUGINS": (None, str, "comma-separated allow-list of plugin names; unset loads all"),
    "SMTP_URL": (None, str, "smtp://user:pass@host:port; unset prints mail to the log"),
    "MAIL_SENDER": ("fusion@localhost", str, "default sender address"),
    "MAX_BODY_BYTES": (1_048_576, int, "largest request body accepted"),
    "MAX_IMPORT_BYTES": (
        64 * 1024 * 1024,
        int,
        "largest number-import body (portal upload, POST /api/v1/number-imports)",
    ),
    "LOGIN_MAX_FAILURES": (5, int, "failed logins per account or address before throttling"),
    "LOGIN_LOCK_SECONDS": (900, int, "how long a throttled login stays refused"),
    "TOKEN_TOUCH_SECONDS": (60, int, "how often a token's last-use time is written"),
    "JOB_MAX_ATTEMPTS": (5, int, "attempts of a failing job before it is marked failed"),
    "JOB_BACKOFF_SECONDS": (5.0, float, "wait before a job's first retry; doubles each attempt"),
    "JOBS_MODE": (None, str, "rq, thread or eager; default rq with REDIS_URL, thread otherwise"),
    "RQ_QUEUE_PREFIX": ("fusion", str, "prefix of rq queue names (several sites on one Redis)"),
    "TRUSTED_PROXIES": (
        0,
        int,
        "reverse proxies in front of Fusion; their X-Forwarded-For/-Proto/-Host are trusted",
    ),
    "LOG_LEVEL": ("INFO", str, "Python logging level"),
}


def load_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the settings as a dict of upper-case keys (without the FUSION_ prefix)."""
    overrides = dict(overrides or {})
    settings: dict[str, Any] = {}
    for name, (default, parse, _doc) in SETTINGS.items():
        raw = os.environ.get(f"FUSION_{name}")
        # An empty FUSION_PLUGINS means "no plugins"; elsewhere empty means "default".
        empty_counts = name == "PLUGINS" and raw is not None
        settings[name] = parse(raw) if raw or empty_counts else default
    settings.update(overrides)
    instance = Path(settings["INSTANCE_PATH"]).absolute()
    settings["INSTANCE_PATH"] = str(instance)
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'fusion.db'}"
    if not settings["JOBS_MODE"]:
        settings["JOBS_MODE"] = "rq" if settings["REDIS_URL"] else "thread"
    if isinstance(settings["PLUGINS"], str):
        settings["PLUGINS"] = [p.strip() for p in settings["PLUGINS"].split(",") if p.strip()]
    return settings


def check_production(settings: dict[str, Any]) -> None:
    """Refuse settings that are only safe on a developer's machine."""
    if settings["ENV"] != "production":
        return
    if settings["SECRET_KEY"] == DEFAULT_SECRET_KEY or len(settings["SECRET_KEY"]) < 32:
        raise RuntimeError(
            "FUSION_SECRET_KEY must be set to a random value of 32+ characters in production "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
