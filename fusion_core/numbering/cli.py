"""`fusion numbers import FILE [--dry-run] [--publish] [--group ID] [--no-wait]`.

When the app's jobs run on rq workers (FUSION_JOBS_MODE=rq), an import larger than
services.SYNC_IMPORT_LIMIT is queued as the job `numbering.import` like an API import, and the
command follows the import record (its `processed` count, read again every POLL_SECONDS) with
the progress bar until it is completed or failed; `--no-wait` prints the import's id and
returns at once. In the other modes (thread, eager) a job would die with the command, so the
import runs inline, with the same bar.
"""

from __future__ import annotations

import time
import uuid

import click
from flask import current_app
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
@click.option(
    "--no-wait",
    is_flag=True,
    help="With rq workers: print the id of a large import queued as a job and return.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    help="With rq workers: stop following a queued import after this many seconds "
    "(it goes on; exit status 2).",
)
@with_appcontext
def import_file(
    file,
    dry_run: bool,
    publish: bool,
    group_id: uuid.UUID | None,
    no_wait: bool,
    timeout: float | None,
) -> None:
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
    as_job = current_app.config["FUSION"]["JOBS_MODE"] == "rq"
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
                # On rq a large import is a job (services decides: the size), inline otherwise.
                run_now=None if as_job else True,
                progress=progress,
            )
        except FusionError as exc:
            if "report" in exc.details:
                _print_report(exc.details["report"], exc.details["problems"])
            raise click.ClickException(exc.message) from None
        if imp.status == "pending":
            if no_wait:
                bar.label = "queued"
            else:
                imp = _follow(session, imp, bar, progress, timeout)
    if imp.status == "pending" and no_wait:
        click.echo(f"import {imp.id}: queued as a job for {imp.total} number(s)")
        return
    click.echo(f"import {imp.id}: {imp.created_numbers} number(s) created")


POLL_SECONDS = 0.5


def _follow(session, imp, bar, progress, timeout: float | None):
    """Read the import record again every POLL_SECONDS, each read in a transaction of its own
    (so the worker's commits show, and no transaction idles between reads), until it is
    completed or failed."""
    from fusion_core.numbering.models import NumberImport

    import_id = imp.id
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        session.expire_all()  # read the record again, not the identity map's copy
        imp = session.get(NumberImport, import_id)
        session.commit()  # end the read's transaction (nothing written; the values stay loaded)
        if imp.status == "completed":
            progress(imp.total)
            return imp
        if imp.status == "failed":
            raise click.ClickException(f"import {import_id} failed: {imp.error}")
        progress(imp.processed or 0)
        if deadline is not None and time.monotonic() >= deadline:
            click.echo(
                f"\nimport {import_id}: still {imp.status} after {timeout:g} s; it goes on "
                f"(GET /api/v1/number-imports/{import_id})",
                err=True,
            )
            raise SystemExit(2)
        time.sleep(POLL_SECONDS)
