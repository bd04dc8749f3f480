"""Section pages: organisations, subscriptions, administrators and the audit log.

Each view loads through `fusion_core.scope` (out of scope answers 404), validates the form
with the API's schema and calls a core service; a FusionError's `errors` dict is shown beside
the fields it names.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required
from marshmallow import ValidationError
from sqlalchemy import func, or_, select

from fusion_core.audit.models import AuditEntry
from fusion_core.context import current_actor
from fusion_core.db import session
from fusion_core.errors import FusionError, NotFound
from fusion_core.hierarchy import services as hierarchy
from fusion_core.hierarchy.models import ALLOWED_PARENTS, Organization, Subscription
from fusion_core.hierarchy.schemas import (
    OrganizationSchema,
    OrganizationUpdateSchema,
    SubscriptionSchema,
    SubscriptionUpdateSchema,
)
from fusion_core.iam import services as iam
from fusion_core.iam.models import ROLES, Admin
from fusion_core.iam.schemas import AdminSchema, AdminUpdateSchema
from fusion_core.scope import in_scope, load, scoped, subtree
from webui.views import (
    _send_link,
    breadcrumbs,
    field_errors,
    flatten,
    form_value,
    hook,
    portal,
    render,
    validated,
)

PER_PAGE = 25
COUNT_CAP = 1_000
KIND_OF = {"distributors": "distributor", "resellers": "reseller", "tenants": "tenant"}
PLURAL = {v: k for k, v in KIND_OF.items()}


def page_args() -> tuple[int, str, str]:
    return (
        max(request.args.get("page", 1, type=int), 1),
        request.args.get("q", "").strip(),
        request.args.get("sort", ""),
    )


def run_list(stmt, sortable: dict[str, Any], default: str, search: list[Any], tiebreak):
    """Search, sort and one page of `stmt` (the lists of every section).

    The total is counted exactly up to COUNT_CAP rows past the page; beyond that the page
    says "1,000+" instead: counting 100,000 tenants on every page view would cost more
    than showing them."""
    page, query, sort = page_args()
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(or_(*[func.lower(c).like(like) for c in search]))
    if sort.lstrip("-") not in sortable:
        sort = default
    column = sortable[sort.lstrip("-")]
    offset = (page - 1) * PER_PAGE
    limit = offset + COUNT_CAP
    counted = session.scalar(
        select(func.count()).select_from(stmt.order_by(None).limit(limit + 1).subquery())
    )
    rows = session.scalars(
        stmt.order_by(column.desc() if sort.startswith("-") else column.asc(), tiebreak)
        .limit(PER_PAGE)
        .offset(offset)
    ).all()
    capped = counted > limit
    total = None if capped else counted
    return {
        "rows": rows,
        "total": total,
        "total_label": f"{limit:,}+" if capped else f"{counted:,}",
        "page": page,
        "pages": None if capped else max((counted + PER_PAGE - 1) // PER_PAGE, 1),
        "has_next": capped or offset + PER_PAGE < counted,
        "q": query,
        "sort": sort,
    }


def names_of(ids) -> dict[Any, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(ids))
    )
    return {row.id: row.name for row in rows}


def creatable_kinds(org: Organization) -> list[str]:
    """Kinds the actor may create directly under `org` (the services enforce it again)."""
    actor = current_actor()
    if not actor.can_write:
        return []
    return [kind for kind, parents in ALLOWED_PARENTS.items() if org.kind in parents]


# --- organisations --------------------------------------------------------------------------

ORG_SORT = {
    "name": Organization.name,
    "created_at": Organization.created_at,
    "status": Organization.status,
}


@portal.get("/<any(distributors, resellers, tenants):kind>")
@login_required
def org_list(kind: str):
    org_kind = KIND_OF[kind]
    stmt = scoped(select(Organization).where(Organization.kind == org_kind), Organization)
    listing = run_list(
        stmt,
        ORG_SORT,
        "name",
        [Organization.name, Organization.external_billing_id],
        Organization.id,
    )
    home = current_user.organization
    return render(
        "org_list.html",
        kind=org_kind,
        plural=kind,
        listing=listing,
        parents=names_of(o.parent_id for o in listing["rows"]),
        can_create=current_actor().can_write and home.kind in ALLOWED_PARENTS[org_kind],
        crumbs=[*breadcrumbs(home), (kind.title(), url_for("portal.org_list", kind=kind))],
    )


def parent_choices(kind: str) -> list[Any]:
    """Organisations in scope that may hold a new `kind` (groups, distributors, resellers)."""
    return session.execute(
        scoped(
            select(Organization.id, Organization.name, Organization.kind).where(
                Organization.kind.in_(ALLOWED_PARENTS[kind])
            ),
            Organization,
        )
        .order_by(Organization.org_path)
        .limit(500)
    ).all()


@portal.route("/<any(distributors, resellers, tenants):kind>/new", methods=["GET", "POST"])
@login_required
def org_new(kind: str):
    org_kind = KIND_OF[kind]
    parent_id = request.values.get("parent_id") or str(current_user.organization_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            data = validated(
                OrganizationSchema(),
                {
                    "name": request.form.get("name", ""),
                    "parent_id": parent_id,
                    "external_billing_id": form_value("external_billing_id"),
                },
            )
            org = hierarchy.create_organization(session, org_kind, **data)
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = field_errors(exc)
        else:
            flash(f"{org_kind.title()} {org.name} created.")
            return redirect(url_for("portal.org_page", org_id=org.id))
    return render(
        "org_form.html",
        422 if errors else 200,
        kind=org_kind,
        plural=kind,
        org=None,
        parent_id=parent_id,
        parents=parent_choices(org_kind),
        errors=errors,
        crumbs=[
            *breadcrumbs(current_user.organization),
            (kind.title(), url_for("portal.org_list", kind=kind)),
            ("New", ""),
        ],
    )


@portal.get("/orgs/<id:org_id>")
@login_required
def org_page(org_id):
    org = load(Organization, org_id)
    actor = current_actor()
    context: dict[str, Any] = {"org": org, "crumbs": breadcrumbs(org)}
    if org.kind == "tenant":
        cards = flatten(hook().tenant_cards(actor=actor, tenant=org))
        context["cards"] = sorted(cards, key=lambda c: (c.order, c.title))
        return render("tenant.html", **context)
    stmt = scoped(select(Organization).where(Organization.parent_id == org.id), Organization)
    context["listing"] = run_list(
        stmt,
        ORG_SORT,
        "name",
        [Organization.name, Organization.external_billing_id],
        Organization.id,
    )
    context["creatable"] = creatable_kinds(org)
    context["plural"] = PLURAL
    return render("org.html", **context)


@portal.route("/orgs/<id:org_id>/edit", methods=["GET", "POST"])
@login_required
def org_edit(org_id):
    org = load(Organization, org_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            changes = validated(
                OrganizationUpdateSchema(),
                {
                    "name": request.form.get("name", ""),
                    "external_billing_id": form_value("external_billing_id"),
                    "status": request.form.get("status") or org.status,
                },
            )
            changes.setdefault("external_billing_id", None)
            hierarchy.update_organization(session, org, changes)
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = field_errors(exc)
        else:
            flash(f"{org.name} saved.")
            return redirect(url_for("portal.org_page", org_id=org.id))
    return render(
        "org_form.html",
        422 if errors else 200,
        kind=org.kind,
        plural=PLURAL.get(org.kind),
        org=org,
        errors=errors,
        crumbs=[*breadcrumbs(org), ("Edit", "")],
    )


@portal.route("/orgs/<id:org_id>/delete", methods=["GET", "POST"])
@login_required
def org_delete(org_id):
    org = load(Organization, org_id)
    if request.method == "POST":
        parent_id = org.parent_id
        name = org.name
        hierarchy.delete_organization(session, org)
        flash(f"{name} deleted.")
        if parent_id and in_scope(session.get(Organization, parent_id).org_path):
            return redirect(url_for("portal.org_page", org_id=parent_id))
        return redirect(url_for("portal.home"))
    return render(
        "confirm_delete.html",
        what=f"{org.kind} {org.name}",
        blockers=hierarchy.deletion_blockers(session, org),
        back=url_for("portal.org_page", org_id=org.id),
        crumbs=[*breadcrumbs(org), ("Delete", "")],
    )


# --- subscriptions --------------------------------------------------------------------------


def platforms() -> dict[str, Any]:
    return dict(sorted(current_app.extensions["fusion"].registry.platforms.items()))


@portal.route("/orgs/<id:org_id>/subscriptions/new", methods=["GET", "POST"])
@login_required
def subscription_new(org_id):
    tenant = load(Organization, org_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            data = validated(
                SubscriptionSchema(),
                {
                    "platform": request.form.get("platform", ""),
                    "name": request.form.get("name", ""),
                    "billing_id": form_value("billing_id"),
                },
            )
            sub = hierarchy.create_subscription(session, tenant, **data)
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = field_errors(exc)
        else:
            flash(f"Subscription {sub.name} created.")
            return redirect(url_for("portal.subscription_page", sub_id=sub.id))
    return render(
        "subscription_form.html",
        422 if errors else 200,
        tenant=tenant,
        sub=None,
        platforms=platforms(),
        errors=errors,
        crumbs=[*breadcrumbs(tenant), ("New subscription", "")],
    )


@portal.get("/subscriptions/<id:sub_id>")
@login_required
def subscription_page(sub_id):
    sub = load(Subscription, sub_id)
    tabs = sorted(
        flatten(hook().subscription_tabs(actor=current_actor(), subscription=sub)),
        key=lambda t: (t.order, t.label),
    )
    selected = request.args.get("tab", "details")
    return render(
        "subscription.html",
        sub=sub,
        tabs=tabs,
        selected=selected if any(t.key == selected for t in tabs) else "details",
        platform=platforms().get(sub.platform),
        crumbs=[
            *breadcrumbs(sub.tenant),
            (sub.name, url_for("portal.subscription_page", sub_id=sub.id)),
        ],
    )


@portal.route("/subscriptions/<id:sub_id>/edit", methods=["GET", "POST"])
@login_required
def subscription_edit(sub_id):
    sub = load(Subscription, sub_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            changes = validated(
                SubscriptionUpdateSchema(),
                {
                    "name": request.form.get("name", ""),
                    "billing_id": form_value("billing_id"),
                    "status": request.form.get("status") or sub.status,
                },
            )
            changes.setdefault("billing_id", None)
            hierarchy.update_subscription(session, sub, changes)
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = field_errors(exc)
        else:
            flash(f"Subscription {sub.name} saved.")
            return redirect(url_for("portal.subscription_page", sub_id=sub.id))
    return render(
        "subscription_form.html",
        422 if errors else 200,
        tenant=sub.tenant,
        sub=sub,
        platforms=platforms(),
        errors=errors,
        crumbs=[*breadcrumbs(sub.tenant), (sub.name, ""), ("Edit", "")],
    )


@portal.route("/subscriptions/<id:sub_id>/delete", methods=["GET", "POST"])
@login_required
def subscription_delete(sub_id):
    sub = load(Subscription, sub_id)
    tenant_id = sub.tenant_id
    if request.method == "POST":
        hierarchy.delete_subscription(session, sub)
        flash(f"Subscription {sub.name} deleted.")
        return redirect(url_for("portal.org_page", org_id=tenant_id))
    return render(
        "confirm_delete.html",
        what=f"subscription {sub.name}",
        blockers=[],
        back=url_for("portal.subscription_page", sub_id=sub.id),
        crumbs=[*breadcrumbs(sub.tenant), (sub.name, ""), ("Delete", "")],
    )


# --- administrators -------------------------------------------------------------------------

ADMIN_SORT = {"email": Admin.email, "name": Admin.name, "role": Admin.role}


@portal.get("/admins")
@login_required
def admin_list():
    stmt = scoped(select(Admin), Admin)
    org_id = request.args.get("org")
    within = None
    if org_id:
        within = load(Organization, _uuid(org_id))
        stmt = stmt.where(Admin.organization_id == within.id)
    listing = run_list(stmt, ADMIN_SORT, "email", [Admin.email, Admin.name], Admin.id)
    return render(
        "admin_list.html",
        listing=listing,
        within=within,
        orgs=names_of(a.organization_id for a in listing["rows"]),
        crumbs=[
            *breadcrumbs(within or current_user.organization),
            ("Admins", url_for("portal.admin_list")),
        ],
    )


def _uuid(value: str):
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("No such organisation.") from None


@portal.route("/admins/new", methods=["GET", "POST"])
@login_required
def admin_new():
    org = load(Organization, _uuid(request.values.get("org") or str(current_user.organization_id)))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            data = validated(
                AdminSchema(),
                {
                    "organization_id": str(org.id),
                    "email": request.form.get("email", ""),
                    "name": request.form.get("name", ""),
                    "role": request.form.get("role", "admin"),
                },
            )
            admin = iam.create_admin(
                session, org, data["email"], data["name"], data["role"], commit=False
            )
            session.flush()
            _send_link(admin, "invite")
            session.commit()
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = field_errors(exc)
        else:
            flash(f"Invitation sent to {admin.email}.")
            return redirect(url_for("portal.admin_list"))
    return render(
        "admin_form.html",
        422 if errors else 200,
        admin=None,
        org=org,
        roles=ROLES,
        errors=errors,
        crumbs=[*breadcrumbs(org), ("Invite an administrator", "")],
    )


@portal.route("/admins/<id:admin_id>/edit", methods=["GET", "POST"])
@login_required
def admin_edit(admin_id):
    admin = load(Admin, admin_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            changes = validated(
                AdminUpdateSchema(),
                {
                    "email": request.form.get("email", ""),
                    "name": request.form.get("name", ""),
                    "role": request.form.get("role", admin.role),
                    "active": request.form.get("active") == "on",
                },
            )
            iam.update_admin(session, admin, changes)
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = field_errors(exc)
        else:
            flash(f"{admin.email} saved.")
            return redirect(url_for("portal.admin_list"))
    return render(
        "admin_form.html",
        422 if errors else 200,
        admin=admin,
        org=admin.organization,
        roles=ROLES,
        errors=errors,
        crumbs=[*breadcrumbs(admin.organization), (admin.email, "")],
    )


@portal.route("/admins/<id:admin_id>/delete", methods=["GET", "POST"])
@login_required
def admin_delete(admin_id):
    admin = load(Admin, admin_id)
    if request.method == "POST":
        email = admin.email
        iam.delete_admin(session, admin)
        flash(f"{email} deleted.")
        return redirect(url_for("portal.admin_list"))
    return render(
        "confirm_delete.html",
        what=f"administrator {admin.email}",
        blockers=[],
        back=url_for("portal.admin_list"),
        crumbs=[*breadcrumbs(admin.organization), (admin.email, ""), ("Delete", "")],
    )


# --- audit ----------------------------------------------------------------------------------

AUDIT_ACTIONS = ("create", "update", "delete")


@portal.get("/audit")
@login_required
def audit_list():
    filters = {k: request.args.get(k, "").strip() for k in ("entity_type", "action", "actor", "q")}
    stmt = scoped(select(AuditEntry), AuditEntry)
    if filters["entity_type"]:
        stmt = stmt.where(AuditEntry.entity_type == filters["entity_type"])
    if filters["action"] in AUDIT_ACTIONS:
        stmt = stmt.where(AuditEntry.action == filters["action"])
    if filters["actor"]:
        stmt = stmt.where(func.lower(AuditEntry.actor).like(f"%{filters['actor'].lower()}%"))
    org_id = request.args.get("org")
    if org_id:
        org = load(Organization, _uuid(org_id))
        stmt = stmt.where(subtree(AuditEntry.org_path, org.org_path))
    listing = run_list(
        stmt,
        {"id": AuditEntry.id},
        "-id",
        [AuditEntry.entity_id, AuditEntry.request_id],
        AuditEntry.id,
    )
    return render(
        "audit_list.html",
        listing=listing,
        filters=filters,
        actions=AUDIT_ACTIONS,
        crumbs=[*breadcrumbs(current_user.organization), ("Audit", "")],
    )


@portal.get("/audit/<int:entry_id>")
@login_required
def audit_entry(entry_id: int):
    entry = session.get(AuditEntry, entry_id)
    if entry is None or not in_scope(entry.org_path):
        raise NotFound(f"No audit entry {entry_id}.")
    return render(
        "audit_entry.html",
        entry=entry,
        crumbs=[
            *breadcrumbs(current_user.organization),
            ("Audit", url_for("portal.audit_list")),
            (f"#{entry.id}", ""),
        ],
    )
