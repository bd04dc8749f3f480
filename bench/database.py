"""The benchmark's own PostgreSQL database: created for a run, dropped at its end."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


class BenchDatabase:
    def __init__(self, server_url: str, name: str | None = None) -> None:
        self.server = make_url(server_url)
        self.name = name or f"fusion_bench_{uuid.uuid4().hex[:10]}"
        self.url = self.server.set(database=self.name).render_as_string(hide_password=False)

    def _admin(self):
        return create_engine(self.server, isolation_level="AUTOCOMMIT")

    def create(self) -> None:
        engine = self._admin()
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        engine.dispose()

    def drop(self) -> None:
        engine = self._admin()
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        engine.dispose()

    def exists(self) -> bool:
        engine = self._admin()
        with engine.connect() as conn:
            found = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": self.name}
            )
        engine.dispose()
        return bool(found)
