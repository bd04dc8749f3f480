from __future__ import annotations

from alembic import context

from fusion_core.db import Base, get_db
from fusion_core.migrations import include_object

app = context.config.attributes["app"]

with app.app_context():
    engine = get_db().engine
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=engine.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object,
        )
        context.run_migrations()
