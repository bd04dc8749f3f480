"""Portal pages: a tenant's Addresses (list with status, create/edit with the reasons beside
each field, validate, delete with confirmation), and the Addresses card of the tenant page.

They extend the portal's layout (`base.html`, `macros.html`) like the core's pages; the portal
signs the administrator in, checks CSRF on every POST and sets the actor before these views run.
Forms are validated with the API's schemas and saved through the services, like the API.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from markupsafe import Markup
from marshmallow import ValidationError
from sqlalchemy import func, or_, select

from fusion_core.api.lists import contains_pattern
from fusion_core.context import Actor, current_actor
from fusion_core.db import session
from fusion_core.errors import FusionError, NotFound
from fusion_core.hierarchy.models import Organization
from fusion_core.registry import Card
from fusion_core.scope import in_scope, load, scoped
from fusion_siptrunk.addresses import services
from fusion_siptrunk.addresses.models import STATUSES, Address
from fusion_siptrunk.addresses.schemas import AddressSchema, AddressUpdateSchema
from fusion_siptrunk.addresses.validation import countries

portal = Blueprint(
    "siptrunk_addresses", __name__, url_prefix="/siptrunk", template_folder="../templates"
)

FORM_FIELDS = (
    "label",
    "name",
    "company_name",
    "street_lines",
    "city_area",
    "city",
    "postal_code",
    "sorting_code",
    "country_area",
    "country",
)
PER_PAGE = 100


def _tenant(tenant_id: uuid.UUID) -> Organization:
    tenant = load(Organization, tenant_id, what="tenant")
    if tenant.kind != "tenant":
        raise NotFound(f"No tenant with id {tenant_id}.")
    return tenant


def _crumbs(tenant: Organization, *tail: tuple[str, str]) -> list[tuple[str, str]]:
    """The tenant's ancestors in the viewer's scope, the tenant, then `tail`."""
    ids = tenant.ancestor_ids
    rows = {
        row.id: row
        for row in session.execute(
            select(Organization.id, Organization.name, Organization.org_path).where(
                Organization.id.in_(ids)
            )
        )
    }
    crumbs = [
        (rows[i].name, url_for("portal.org_page", org_id=i))
        for i in ids
        if i in rows and in_scope(rows[i].org_path)
    ]
    return [
        *crumbs,
        ("Addresses", url_for("siptrunk_addresses.tenant_addresses", tenant_id=tenant.id)),
        *tail,
    ]


def _errors(exc: FusionError | ValidationError) -> dict[str, list[str]]:
    messages = exc.messages if isinstance(exc, ValidationError) else exc.errors
    out: dict[str, list[str]] = {}
    for key, value in (messages or {}).items():
        if isinstance(value, dict):  # a list field's per-item errors: {0: [..]}
            value = [m for msgs in value.values() for m in msgs]
        out[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if not out:
        out["_form"] = [getattr(exc, "message", str(exc))]
    return out


def _form(blank_as_none: bool) -> dict[str, Any]:
    """The form as the API takes it: street lines from the textarea, blanks left out (create)
    or cleared (edit)."""
    data: dict[str, Any] = {}
    for key in FORM_FIELDS:
        raw = request.form.get(key, "")
        if key == "street_lines":
            lines = [line.strip() for line in raw.splitlines() if line.strip()]
            if lines or blank_as_none:
                data[key] = lines
            continue
        value = raw.strip()
        if value:
            data[key] = value
        elif blank_as_none:  # clearing a field; a blank label or country is refused by name
            data[key] = "" if key in ("label", "country") else None
    return data


def _render(template: str, status: int = 200, **context: Any):
    actor = current_actor()
    context.setdefault("can_write", actor.can_write)
    context.setdefault("countries", countries())
    context.setdefault("statuses", STATUSES)
    return render_template(template, **context), status


@portal.errorhandler(FusionError)
def _fusion_error(exc: FusionError):
    session.rollback()
    title = "Not found" if exc.status == 404 else "Not possible"
    return render_template("error.html", title=title, message=exc.message), exc.status


@portal.get("/addresses")
@login_required
def address_index():
    """A tenant's administrators go to their own addresses; the levels above see every
    address in their scope, by tenant."""
    actor = current_actor()
    if actor.org_kind == "tenant":
        return redirect(url_for(".tenant_addresses", tenant_id=actor.organization_id))
    q = request.args.get("q", "").strip()
    status = request.args.get("status", "")
    stmt = scoped(select(Address), Address)
    if status in STATUSES:
        stmt = stmt.where(Address.status == status)
    if q:
        like = contains_pattern(q)
        stmt = stmt.where(
            or_(
                func.lower(Address.label).like(like, escape="\\"),
                func.lower(Address.city).like(like, escape="\\"),
                func.lower(Address.postal_code).like(like, escape="\\"),
            )
        )
    rows = session.scalars(stmt.order_by(Address.label, Address.id).limit(PER_PAGE)).all()
    return _render(
        "siptrunk/addresses/index.html",
        rows=rows,
        q=q,
        status=status,
        crumbs=[("Addresses", "")],
    )


@portal.route("/tenants/<uuid:tenant_id>/addresses", methods=["GET", "POST"])
@login_required
def tenant_addresses(tenant_id: uuid.UUID):
    """The tenant's addresses, and the form that adds one (validated at once)."""
    tenant = _tenant(tenant_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            data = AddressSchema().load({**_form(False), "tenant_id": str(tenant.id)})
            address = services.create_address(session, tenant, data)
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = _errors(exc)
        else:
            return _saved(address)
    rows = session.scalars(
        select(Address)
        .where(Address.tenant_id == tenant.id)
        .order_by(Address.label, Address.id)
        .limit(PER_PAGE)
    ).all()
    return _render(
        "siptrunk/addresses/list.html",
        422 if errors else 200,
        tenant=tenant,
        rows=rows,
        errors=errors,
        form=request.form if request.method == "POST" else {},
        crumbs=_crumbs(tenant),
    )


def _saved(address: Address):
    if address.status == "valid":
        flash(f"Address {address.label} saved and valid.")
    elif address.status == "invalid":
        flash(f"Address {address.label} saved, but it is not valid: fix the fields marked.")
    else:
        flash(f"Address {address.label} saved, but it could not be validated yet.")
    return redirect(url_for(".address_page", address_id=address.id))


@portal.route("/addresses/<uuid:address_id>", methods=["GET", "POST"])
@login_required
def address_page(address_id: uuid.UUID):
    """Edit one address: the last validation's reasons are shown beside their fields."""
    address = load(Address, address_id)
    tenant = address.tenant
    errors: dict[str, list[str]] = {}
    form: Any = {}
    if request.method == "POST":
        form = request.form
        try:
            data = AddressUpdateSchema().load(_form(True))
            services.update_address(session, address, data)
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = _errors(exc)
        else:
            return _saved(address)
    if not errors and address.status != "valid":
        errors = {k: list(v) for k, v in (address.validation_errors or {}).items()}
    return _render(
        "siptrunk/addresses/edit.html",
        422 if request.method == "POST" and errors else 200,
        tenant=tenant,
        address=address,
        errors=errors,
        form=form,
        crumbs=_crumbs(tenant, (address.label, "")),
    )


@portal.post("/addresses/<uuid:address_id>/validate")
@login_required
def address_validate(address_id: uuid.UUID):
    address = load(Address, address_id)
    try:
        services.validate_address(session, address)
    except FusionError as exc:
        session.rollback()
        flash(exc.message)
    else:
        flash(f"Address {address.label}: {address.status}.")
    return redirect(url_for(".address_page", address_id=address.id))


@portal.route("/addresses/<uuid:address_id>/delete", methods=["GET", "POST"])
@login_required
def address_delete(address_id: uuid.UUID):
    """Confirm, then delete; refused with the reasons while something uses the address."""
    address = load(Address, address_id)
    tenant = address.tenant
    back = url_for(".address_page", address_id=address.id)
    blockers = services.address_in_use_reasons(session, address)
    if request.method == "POST" and not blockers:
        services.delete_address(session, address)
        flash(f"Address {address.label} deleted.")
        return redirect(url_for(".tenant_addresses", tenant_id=tenant.id))
    return _render(
        "confirm_delete.html",
        409 if request.method == "POST" else 200,
        what=f"address {address.label}",
        blockers=blockers,
        back=back,
        crumbs=_crumbs(tenant, (address.label, back), ("Delete", "")),
    )


def tenant_card(actor: Actor, tenant: Organization) -> Card:
    """The Addresses card of a tenant's page: how many, how many valid, a link to the page."""
    total, valid = services.counts(session, tenant)
    url = url_for("siptrunk_addresses.tenant_addresses", tenant_id=tenant.id)
    if total:
        body = Markup("<p>{} address(es), {} valid.</p>").format(total, valid)
        if valid < total:
            body += Markup("<p>{} need(s) attention before use.</p>").format(total - valid)
    else:
        body = Markup("<p>No emergency address yet.</p>")
    if actor.can_write:
        body += Markup('<a href="{}">Manage addresses</a>').format(url)
    return Card("siptrunk-addresses", "Emergency addresses", body, url=url, order=45)
