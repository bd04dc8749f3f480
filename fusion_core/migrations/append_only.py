"""Append-only tables for migrations: the database itself refuses UPDATE and DELETE.

The audit log and a number's history use it; a plugin's own logs can too:

    from fusion_core.migrations.append_only import append_only, drop_append_only
    append_only("example_log", function="example_log_append_only")

On PostgreSQL a row trigger refuses UPDATE and DELETE (TRUNCATE is no row operation). On SQLite
a trigger per refused statement; `sqlite_refuse` can leave DELETE open where no code path deletes
and the test reset empties tables with DELETE.
"""

from __future__ import annotations

from alembic import op


def append_only(
    table: str, *, function: str, sqlite_refuse: tuple[str, ...] = ("UPDATE", "DELETE")
) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP;\nEND $$;"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
        return
    for action in sqlite_refuse:
        op.execute(
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
        )


def drop_append_only(
    table: str, *, function: str, sqlite_refuse: tuple[str, ...] = ("UPDATE", "DELETE")
) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
        return
    for action in sqlite_refuse:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action.lower()}")
