"""Numbers pages: the inventory (search, a number's history), imports with a dry-run preview
and their per-row report, and tenants' number requests (the request form and the queue).

As in the other sections, views load through the scope, validate with the API's schemas and
call `fusion_core.numbering` services, which own the rules, transactions and audit.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from marshmallow import ValidationError
from sqlalchemy import select

from fusion_core.context import current_actor
from fusion_core.db import session
from fusion_core.errors import FusionError, NotFound, ValidationFailed
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.numbering import requests as number_requests
from fusion_core.numbering import services, uploads
from fusion_core.numbering.lifecycle import allowed_actions
from fusion_core.numbering.models import (
    NUMBER_TYPES,
    STATES,
    NumberImport,
    NumberRange,
    NumberRequest,
)
from fusion_core.numbering.schemas import NumberRequestCreateSchema, NumberSearchArgs
from fusion_core.scope import load, scoped
from webui.views import breadcrumbs, field_errors, form_value, portal, render, validated

PER_PAGE = 50


def _crumbs(*tail: tuple[str, str]) -> list[tuple[str, str]]:
    return [*breadcrumbs(current_user.organization), *tail]


@portal.get("/numbers")
@login_required
def number_list():
    """Search by prefix or pattern, state, country and type; keyset pages by E.164."""
    raw = {k: v.strip() for k, v in request.args.items() if v.strip() and k != "page"}
    errors: dict[str, list[str]] = {}
    try:
        args = NumberSearchArgs().load({**raw, "limit": PER_PAGE})
        result = services.search(session, args)
    except (ValidationError, FusionError) as exc:
        errors, result = field_errors(exc), {"items": [], "next_cursor": None}
    actor = current_actor()
    return render(
        "numbers/list.html",
        422 if errors else 200,
        args=raw,
        errors=errors,
        result=result,
        states=STATES,
        number_types=NUMBER_TYPES,
        can_import=actor.is_group and actor.can_write,
        crumbs=_crumbs(("Numbers", url_for("portal.number_list"))),
    )


# Actions the number page offers as buttons, with the extra fields each one asks for.
GROUP_ONLY = {"publish", "unpublish", "retire", "recycle"}
ACTION_FIELDS = {"reserve": ("tenant_id",), "allocate": ("subscription_id",)}
ACTION_LABELS = {"recycle": "End quarantine"}


def _offered_actions(number) -> list[str]:
    """The legal actions of the number's state that this administrator may take here; assign
    and unassign belong to the connectors' pages (a trunk's DIDs, a Teams user...)."""
    actor = current_actor()
    if not actor.can_write:
        return []
    return [
        a
        for a in allowed_actions(number.state)
        if a not in ("assign", "unassign") and (actor.is_group or a not in GROUP_ONLY)
    ]


@portal.get("/numbers/<uuid:number_id>")
@login_required
def number_page(number_id: uuid.UUID, errors: dict | None = None, status: int = 200):
    number = services.get_number(session, number_id)
    offered = _offered_actions(number)
    needs = {f for a in offered for f in ACTION_FIELDS.get(a, ())}
    return render(
        "numbers/number.html",
        status,
        number=number,
        history=services.history(session, number),
        actions=allowed_actions(number.state),
        offered=offered,
        action_fields=ACTION_FIELDS,
        action_labels=ACTION_LABELS,
        subscription_options=_options(_subscriptions() if "subscription_id" in needs else []),
        tenant_options=_options(_tenants() if "tenant_id" in needs else []),
        errors=errors or {},
        crumbs=_crumbs(("Numbers", url_for("portal.number_list")), (number.e164, "")),
    )


@portal.post("/numbers/<uuid:number_id>/<action>")
@login_required
def number_action(number_id: uuid.UUID, action: str):
    """One lifecycle action from the number page, validated by the API's schema for it."""
    from fusion_core.numbering.api import ACTIONS

    if action not in ACTIONS or action in ("assign", "unassign"):
        raise NotFound("There is no page here.")
    schema, func, _doc = ACTIONS[action]
    data = {"reason": form_value("reason")}
    data.update({f: form_value(f) for f in ACTION_FIELDS.get(action, ())})
    number = services.get_number(session, number_id, lock=True)
    try:
        func(session, number, **validated(schema(), data))
    except (FusionError, ValidationError) as exc:
        session.rollback()
        return number_page(number_id, errors=field_errors(exc), status=_status(exc))
    flash(f"{number.e164}: {ACTION_LABELS.get(action, action)} done; it is now {number.state}.")
    return redirect(url_for("portal.number_page", number_id=number_id))


def _options(rows) -> list[tuple[str, str]]:
    return [("", "choose…"), *((str(r.id), r.name) for r in rows)]


def _status(exc: Exception) -> int:
    return exc.status if isinstance(exc, FusionError) else 422


def _tenants() -> list[Organization]:
    return list(
        session.scalars(
            scoped(select(Organization), Organization)
            .where(Organization.kind == "tenant", Organization.status == "active")
            .order_by(Organization.name)
            .limit(200)
        )
    )


@portal.get("/number-ranges")
@login_required
def number_ranges():
    """The group's imported ranges, newest first; Publish offers what is still imported."""
    actor = current_actor()
    if not actor.is_group:
        raise NotFound("There is no page here.")
    ranges = list(
        session.scalars(
            scoped(select(NumberRange), NumberRange)
            .order_by(NumberRange.created_at.desc(), NumberRange.first)
            .limit(PER_PAGE)
        )
    )
    return render(
        "numbers/ranges.html",
        ranges=ranges,
        can_write=actor.can_write,
        crumbs=_crumbs(("Numbers", url_for("portal.number_list")), ("Ranges", "")),
    )


@portal.post("/number-ranges/<uuid:range_id>/publish")
@login_required
def number_range_publish(range_id: uuid.UUID):
    block = load(NumberRange, range_id)
    try:
        published = services.publish_range(session, block, reason=form_value("reason"))
    except FusionError as exc:
        session.rollback()
        flash(exc.message)
    else:
        flash(f"Range {block.first} to {block.last}: {published} number(s) published.")
    return redirect(url_for("portal.number_ranges"))


@portal.get("/number-imports")
@login_required
def number_imports():
    """Imports with their progress; the page refreshes itself while one is running."""
    actor = current_actor()
    if not actor.is_group:
        raise NotFound("There is no page here.")
    rows = list(
        session.scalars(
            scoped(select(NumberImport), NumberImport)
            .order_by(NumberImport.created_at.desc())
            .limit(PER_PAGE)
        )
    )
    return render(
        "numbers/imports.html",
        imports=rows,
        running=any(r.status in ("pending", "running") for r in rows),
        crumbs=_crumbs(("Numbers", url_for("portal.number_list")), ("Imports", "")),
    )


@portal.url_value_preprocessor
def _import_body_limit(endpoint: str | None, _values: Any) -> None:
    """The import page takes files up to FUSION_MAX_IMPORT_BYTES. This runs before the portal's
    CSRF check reads the form, so the raised limit applies to it; a body that says it is larger
    is answered with the page and the error beside the file field, unread."""
    if endpoint != "portal.number_import" or request.method != "POST":
        return
    try:
        uploads.allow_import_body("file")
    except uploads.PayloadTooLarge as exc:
        abort(_too_large_page(exc))


def _too_large_page(exc):
    from flask import make_response

    if not current_user.is_authenticated or current_user.organization.kind != "group":
        return make_response(exc.message, 413)  # not the page's user: no page
    body, status = _import_page(exc.errors, None, [], 413, form={})  # the body stays unread
    return make_response(body, status)


def _import_page(errors, preview, report, status, form=None):
    if form is None:
        form = {
            "csv": request.form.get("csv", ""),
            "publish": request.form.get("publish") == "on",
            "uploaded": bool(request.files.get("file") and request.files["file"].filename),
        }
    return render(
        "numbers/import.html",
        status,
        errors=errors,
        preview=preview,
        report=report,
        import_form=form,
        max_import=uploads.describe(uploads.max_import_bytes()),
        crumbs=_crumbs(("Numbers", url_for("portal.number_list")), ("Import", "")),
    )


def _posted_csv() -> tuple[str, str]:
    """The CSV of the form and its field: an uploaded file, else the pasted text."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return "csv", request.form.get("csv", "")
    limit = uploads.max_import_bytes()
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise uploads.too_large("file", limit)
    try:
        return "file", data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "The file cannot be read.", errors={"file": ["Not UTF-8 text: save it as UTF-8 CSV."]}
        ) from None


@portal.route("/numbers/import", methods=["GET", "POST"])
@login_required
def number_import():
    """A CSV pasted in or uploaded (up to FUSION_MAX_IMPORT_BYTES): Preview (a dry run: what
    would be created, or the per-row report) or Import (all or nothing)."""
    actor = current_actor()
    if not actor.is_group:
        raise NotFound("There is no page here.")
    errors: dict[str, list[str]] = {}
    preview: dict[str, Any] | None = None
    report: list[dict[str, Any]] = []
    status = 200
    if request.method == "POST":
        dry_run = request.form.get("action") != "import"
        field = "file" if request.files.get("file") and request.files["file"].filename else "csv"
        try:
            field, text = _posted_csv()
            result = services.import_numbers(
                session,
                csv_text=text,
                publish=request.form.get("publish") == "on",
                dry_run=dry_run,
                source="portal",
            )
        except FusionError as exc:
            session.rollback()
            report = exc.details.get("report") or []
            errors = {field: [exc.message]} if report else field_errors(exc)
            if "rows" in errors:
                errors[field] = errors.pop("rows")
            status = exc.status if exc.status == 413 else 422
        else:
            if not dry_run:
                flash(f"Import of {result.total} number(s): {result.status}.")
                return redirect(url_for("portal.number_imports"))
            preview, report = result, result["report"]
    return _import_page(errors, preview, report, status)


def _subscriptions() -> list[Subscription]:
    return list(
        session.scalars(
            scoped(select(Subscription), Subscription)
            .where(Subscription.status == "active")
            .order_by(Subscription.name)
            .limit(200)
        )
    )


@portal.route("/number-requests", methods=["GET", "POST"])
@login_required
def number_requests_page():
    """The request form (tenants and the levels above) and the requests in scope: the pending
    ones are the queue the levels above approve or reject."""
    actor = current_actor()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        fields = ("subscription_id", "country", "type", "area", "quantity", "number", "note")
        try:
            data = validated(NumberRequestCreateSchema(), {f: form_value(f) for f in fields})
            created = number_requests.create_request(session, data)
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = field_errors(exc)
        else:
            flash(f"Reserved {', '.join(created.numbers)} until {created.expires_at:%Y-%m-%d}.")
            return redirect(url_for("portal.number_requests_page"))
    state = request.args.get("state", "pending")
    stmt = scoped(select(NumberRequest), NumberRequest)
    if state:
        stmt = stmt.where(NumberRequest.state == state)
    rows = session.scalars(stmt.order_by(NumberRequest.created_at).limit(200)).all()
    return render(
        "numbers/requests.html",
        422 if errors else 200,
        errors=errors,
        rows=rows,
        state=state,
        subscriptions=_subscriptions(),
        number_types=NUMBER_TYPES,
        upstream=actor.org_kind != "tenant" and actor.can_write,
        can_write=actor.can_write,
        crumbs=_crumbs(("Number requests", url_for("portal.number_requests_page"))),
    )


@portal.post("/number-requests/<uuid:request_id>/<any(approve, reject, cancel):action>")
@login_required
def number_request_decide(request_id: uuid.UUID, action: str):
    row = load(NumberRequest, request_id)
    session.refresh(row, with_for_update=True)
    try:
        if action == "reject":
            reason = form_value("reason")
            if not reason:
                raise ValidationError({"reason": ["Say why the request is rejected."]})
            number_requests.reject(session, row, reason)
        else:
            getattr(number_requests, action)(session, row, form_value("reason"))
    except (FusionError, ValidationError) as exc:
        session.rollback()
        errs = field_errors(exc)
        flash(" ".join(m for msgs in errs.values() for m in msgs))
    else:
        flash(f"Request {action}d.")
    return redirect(url_for("portal.number_requests_page"))


# --- port-ins ------------------------------------------------------------------------------


def _port_form() -> dict[str, Any]:
    """The port-in form as the API takes it: one number or `first-last` range per line."""
    numbers, ranges = [], []
    for line in request.form.get("numbers", "").splitlines():
        line = line.strip().replace(" ", "")
        if not line:
            continue
        if "-" in line[1:]:
            first, _, last = line.partition("-")
            ranges.append({"first": first, "last": last})
        else:
            numbers.append(line)
    return {
        "subscription_id": form_value("subscription_id"),
        "numbers": numbers or None,
        "ranges": ranges or None,
        "current_carrier": form_value("current_carrier"),
        "account_reference": form_value("account_reference"),
        "requested_date": form_value("requested_date"),
        "submit": request.form.get("submit") == "on",
    }


@portal.route("/port-ins", methods=["GET", "POST"])
@login_required
def port_in_list():
    """The port-in form and the port-ins in scope by state (the queue of the levels above)."""
    from fusion_core.numbering import ports
    from fusion_core.numbering.models import PortIn
    from fusion_core.numbering.schemas import PortInCreateSchema

    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            port = ports.create_port(session, validated(PortInCreateSchema(), _port_form()))
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = field_errors(exc)
        else:
            flash(f"Port-in of {port.count} number(s) {port.state}.")
            return redirect(url_for("portal.port_in_page", port_id=port.id))
    state = request.args.get("state", "")
    stmt = scoped(select(PortIn), PortIn)
    if state:
        stmt = stmt.where(PortIn.state == state)
    rows = session.scalars(stmt.order_by(PortIn.created_at.desc()).limit(200)).all()
    return render(
        "numbers/port_ins.html",
        422 if errors else 200,
        errors=errors,
        rows=rows,
        state=state,
        subscriptions=_subscriptions(),
        can_write=current_actor().can_write,
        crumbs=_crumbs(("Port-ins", url_for("portal.port_in_list"))),
    )


@portal.route("/port-ins/<uuid:port_id>", methods=["GET", "POST"])
@login_required
def port_in_page(port_id: uuid.UUID):
    """One port-in: its numbers, steps, comments and documents, and the moves its state
    allows (`what` in the form: an action, `comment`, `step` or `document`)."""
    import base64

    from fusion_core.numbering import ports
    from fusion_core.numbering.models import PortIn

    port = load(PortIn, port_id)
    actor = current_actor()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        session.refresh(port, with_for_update=True)
        what = request.form.get("what", "")
        try:
            if what in ports.PORT_TRANSITIONS:
                date_text = form_value("date")
                from fusion_core.numbering.schemas import PortActionSchema

                data = validated(
                    PortActionSchema(), {"reason": form_value("reason"), "date": date_text}
                )
                ports.transition(session, port, what, **data)
            elif what == "comment":
                from fusion_core.numbering.schemas import CommentSchema

                text = validated(CommentSchema(), {"text": form_value("text")})["text"]
                ports.add_comment(session, port, text)
            elif what == "step":
                ports.mark_step(session, port, request.form.get("step", ""), True)
            elif what == "document":
                upload = request.files.get("document")
                if upload is None or not upload.filename:
                    raise ValidationError({"document": ["Choose a file."]})
                ports.add_document(
                    session,
                    port,
                    {
                        "filename": upload.filename[:200],
                        "content_type": upload.mimetype,
                        "content_base64": base64.b64encode(upload.read()).decode(),
                    },
                )
            else:
                raise ValidationError({"what": ["Unknown action."]})
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = field_errors(exc)
            if "content_base64" in errors:
                errors["document"] = errors.pop("content_base64")
        else:
            flash("Saved.")
            return redirect(url_for("portal.port_in_page", port_id=port.id))
        port = load(PortIn, port_id)
    upstream = actor.org_kind != "tenant" and actor.can_write
    moves = [
        a
        for a in ports.port_actions(port.state)
        if actor.can_write and (upstream or not ports.PORT_TRANSITIONS[a].upstream)
    ]
    return render(
        "numbers/port_in.html",
        422 if errors else 200,
        port=port,
        errors=errors,
        moves=moves,
        upstream=upstream,
        documents=ports.documents(session, port),
        crumbs=_crumbs(("Port-ins", url_for("portal.port_in_list")), (str(port.id)[:8], "")),
    )
