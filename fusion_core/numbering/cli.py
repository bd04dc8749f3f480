"""`fusion numbers import FILE [--dry-run] [--publish] [--group ID]`."""

from __future__ import annotations

import uuid

import click
from flask.cli import with_appcontext

from fusion_core.context import current_actor
from fusion_core.db import get_db
from fusion_core.errors import FusionError


@click.group("numbers")
def numbers() -> None:
    """Number inventory."""


def _print_report(report: list[dict], problems: int) -> None:
    for problem in report:
        click.echo(
            f"  row {problem['row']}: {problem['field']}: {problem['reason']}"
            + (f" ({problem['value']})" if problem["value"] not in (None, "") else ""),
            err=True,
        )
    if problems > len(report):
        click.echo(f"  … and {problems - len(report)} more", err=True)


@numbers.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@click.option("--publish", is_flag=True, help="Import the numbers as available.")
@click.option("--group", "group_id", type=click.UUID, help="Target group (when several exist).")
@with_appcontext
def import_file(file, dry_run: bool, publish: bool, group_id: uuid.UUID | None) -> None:
    """Import a CSV (header from: number, first, last, type, vanity_class, area, notes):
    all or nothing, with a per-row report when anything is wrong."""
    from fusion_core.numbering import services

    session = get_db().session
    text = file.read()
    try:
        services.import_owner(session, current_actor(), group_id)
        plan = services.plan_import(session, csv_text=text)
    except FusionError as exc:
        reasons = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items())
        message = f"{exc.message} ({reasons})" if reasons else exc.message
        raise click.ClickException(message) from None
    if not plan.valid:
        click.echo(f"{plan.problems} problem(s); nothing imported:", err=True)
        _print_report(plan.report, plan.problems)
        raise SystemExit(1)
    click.echo(f"{len(plan.rows)} row(s): {plan.numbers} number(s) in {plan.ranges} range(s)")
    if dry_run:
        click.echo("dry run: nothing written")
        return
    with click.progressbar(length=plan.numbers, label="importing") as bar:
        done = [0]

        def progress(count: int) -> None:
            bar.update(count - done[0])
            done[0] = count

        try:
            imp = services.import_numbers(
                session,
                csv_text=text,
                publish=publish,
                group_id=group_id,
                source="cli",
                run_now=True,
                progress=progress,
            )
        except FusionError as exc:
            if "report" in exc.details:
                _print_report(exc.details["report"], exc.details["problems"])
            raise click.ClickException(exc.message) from None
    click.echo(f"import {imp.id}: {imp.created_numbers} number(s) created")
