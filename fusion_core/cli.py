"""The `fusion` command line."""

from __future__ import annotations

import getpass
from datetime import timedelta

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from fusion_core.app import create_app
from fusion_core.context import Actor, acting_as
from fusion_core.db import get_db, utcnow


def _cli_actor() -> Actor:
    return Actor(label=f"cli:{getpass.getuser()}", via="cli", unrestricted=True)


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), set_debug_flag=False)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Fusion: self-care portal and REST API for UC service providers."""
    # Reset when the command ends, so an embedding caller (or a test) keeps its own actor.
    ctx.with_resource(acting_as(_cli_actor()))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="heads")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply the core's and every plugin's migrations."""
    from fusion_core.migrations import upgrade

    upgrade(current_app, revision)
    click.echo("database is up to date")


@db.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--branch", default="core", help="core or a plugin name")
@click.option("--autogenerate/--empty", default=True)
@with_appcontext
def db_revision(message: str, branch: str, autogenerate: bool) -> None:
    """Write a new migration on a branch (developers)."""
    from alembic import command

    from fusion_core.migrations import alembic_config

    command.revision(
        alembic_config(current_app), message, autogenerate=autogenerate, head=f"{branch}@head"
    )


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command("load")
@with_appcontext
def demo_load() -> None:
    """Load the demo hierarchy once (again: keeps what is there)."""
    from fusion_core.demo import DEMO_LOGINS, DEMO_PASSWORD, load_demo

    fusion = current_app.extensions["fusion"]
    created = load_demo(get_db().session, fusion.plugins, list(fusion.registry.platforms))
    click.echo("demo data loaded" if created else "demo data already loaded (kept)")
    click.echo(f"demo logins (password for all: {DEMO_PASSWORD}):")
    for level, email in DEMO_LOGINS:
        click.echo(f"  {level:<12} {email}")


@main.group()
def admin() -> None:
    """Administrators and tokens."""


@admin.command("create-group")
@click.argument("name")
@click.option("--admin-email", required=True)
@click.option("--admin-name", default=None)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def create_group(name: str, admin_email: str, admin_name: str | None, password: str) -> None:
    """Bootstrap a group (service provider) and its first administrator."""
    from fusion_core.errors import FusionError
    from fusion_core.hierarchy.services import create_group as make_group
    from fusion_core.iam.services import create_admin

    session = get_db().session
    try:
        group = make_group(session, name)
        create_admin(session, group, admin_email, admin_name or f"{name} admin", "admin", password)
    except FusionError as exc:
        session.rollback()
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
        raise click.ClickException(f"{exc.message} {details}".strip()) from None
    click.echo(f"group {group.id} created; {admin_email} can log in")


@admin.command("token")
@click.argument("email")
@click.option("--name", default="cli")
@click.option("--days", type=int, default=None, help="expire after this many days")
@with_appcontext
def token(email: str, name: str, days: int | None) -> None:
    """Issue an API token for EMAIL and print it (shown once)."""
    from fusion_core.iam.models import Admin
    from fusion_core.iam.services import issue_token

    session = get_db().session
    found = session.scalar(select(Admin).where(Admin.email == email.strip().lower()))
    if found is None:
        raise click.ClickException(f"no administrator with email {email}")
    expires = utcnow() + timedelta(days=days) if days else None
    _token, secret = issue_token(session, found, name, expires)
    click.echo(secret)


@main.group()
def plugins() -> None:
    """Installed plugins."""


@plugins.command("list")
@with_appcontext
def plugins_list() -> None:
    """Installed plugins: distribution, version, loaded or not, and what each registers."""
    from fusion_core.plugins import describe

    for row in describe(current_app):
        state = "loaded" if row.loaded else "not loaded (FUSION_PLUGINS)"
        click.echo(f"{row.name}  {row.distribution} {row.version}  {state}")
        for kind, keys in row.registers.items():
            click.echo(f"    {kind}: {', '.join(keys)}")


@main.command("worker")
@click.option("--burst", is_flag=True, help="stop when the queue is empty")
@click.option("--no-scheduler", is_flag=True, help="do not enqueue periodic jobs")
@with_appcontext
def worker(burst: bool, no_scheduler: bool) -> None:
    """Run an rq worker (needs FUSION_REDIS_URL)."""
    if not current_app.config["FUSION"]["REDIS_URL"]:
        raise click.ClickException("FUSION_REDIS_URL is not set: jobs run in-process")
    from fusion_core.jobs.rq import run_worker

    run_worker(current_app._get_current_object(), burst=burst, with_scheduler=not no_scheduler)
