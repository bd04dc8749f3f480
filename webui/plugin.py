"""Registers the portal with the core through the same hooks any plugin uses: its pages, its
migration branch, its mail job, the core sections of the menu, the tenant page's own cards and
the global search over organisations and administrators."""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from fusion_core.hookspecs import hookimpl
from fusion_core.registry import Card, MenuItem, SearchResult
from webui import models  # noqa: F401 - the portal's table joins the metadata


@hookimpl
def register_blueprints():
    from webui import (
        catalog_pages,  # noqa: F401 - the catalogue's pages register on `portal`
        number_pages,  # noqa: F401 - the numbers' pages register on `portal`
    )
    from webui.views import portal

    return [portal]


@hookimpl
def register_migrations():
    return [str(Path(__file__).parent / "migrations" / "versions")]


@hookimpl
def register_jobs():
    from webui.mail import MAIL_JOB

    return [MAIL_JOB]


# Sections by the organisation kind that may use them (DESIGN.md §1).
SECTIONS = (
    ("Distributors", "portal.org_list", {"kind": "distributors"}, ("group",), 10),
    ("Resellers", "portal.org_list", {"kind": "resellers"}, ("group", "distributor"), 20),
    ("Tenants", "portal.org_list", {"kind": "tenants"}, ("group", "distributor", "reseller"), 30),
    ("Products", "portal.product_list", {}, ("group", "distributor", "reseller"), 40),
    ("Orders", "portal.order_list", {}, ("group",), 45),
    ("Numbers", "portal.number_list", {}, ("group", "distributor", "reseller", "tenant"), 47),
    ("Reports", "portal.license_report", {}, ("group", "distributor", "reseller", "tenant"), 50),
    ("Admins", "portal.admin_list", {}, ("group", "distributor", "reseller", "tenant"), 60),
    ("Audit", "portal.audit_list", {}, ("group", "distributor", "reseller", "tenant"), 80),
    ("Settings", "portal.settings", {}, ("group",), 90),
)


@hookimpl
def menu_items(actor):
    from flask import url_for

    if not actor.is_admin:
        return []
    return [
        MenuItem(label, url_for(endpoint, **args), order=order)
        for label, endpoint, args, kinds, order in SECTIONS
        if actor.org_kind in kinds
    ]


@hookimpl
def tenant_cards(actor, tenant):
    from flask import url_for
    from sqlalchemy import func, select

    from fusion_core.db import session
    from fusion_core.hierarchy.models import Subscription
    from fusion_core.iam.models import Admin

    subs = session.scalars(
        select(Subscription).where(Subscription.tenant_id == tenant.id).order_by(Subscription.name)
    ).all()
    if subs:
        rows = Markup("").join(
            Markup('<li><a href="{}">{}</a> <small>{} · {}</small></li>').format(
                url_for("portal.subscription_page", sub_id=s.id), s.name, s.platform, s.status
            )
            for s in subs
        )
        subs_body = Markup("<ul>{}</ul>").format(rows)
    else:
        subs_body = Markup("<p>No subscriptions yet.</p>")
    if actor.can_write and actor.org_kind != "tenant":
        subs_body += Markup('<a href="{}">Add a subscription</a>').format(
            url_for("portal.subscription_new", org_id=tenant.id)
        )
    admins = session.scalar(
        select(func.count()).select_from(Admin).where(Admin.organization_id == tenant.id)
    )
    settings = Markup(
        "<dl><dt>Status</dt><dd>{}</dd><dt>Billing ID</dt><dd>{}</dd>"
        "<dt>Administrators</dt><dd>{}</dd><dt>Tenant ID</dt><dd><code>{}</code></dd></dl>"
    ).format(tenant.status, tenant.external_billing_id or "—", admins, tenant.id)
    if actor.can_write:
        settings += Markup('<a href="{}">Edit settings</a>').format(
            url_for("portal.org_edit", org_id=tenant.id)
        )
    from webui.catalog_pages import licenses_card_body

    return [
        Card("subscriptions", "Subscriptions", subs_body, order=10),
        Card("licenses", "Licenses", licenses_card_body(actor, tenant), order=20),
        Card("settings", "Settings", settings, order=90),
    ]


@hookimpl
def subscription_tabs(actor, subscription):
    from fusion_core.registry import Tab
    from webui.catalog_pages import licenses_tab_body

    return [Tab("licenses", "Licenses", licenses_tab_body(actor, subscription), order=10)]


@hookimpl
def global_search(actor, query, limit):
    from flask import url_for
    from sqlalchemy import func, or_, select

    from fusion_core.db import session
    from fusion_core.hierarchy.models import Organization
    from fusion_core.iam.models import Admin
    from fusion_core.scope import scoped

    like = f"%{query.strip().lower()}%"
    orgs = session.scalars(
        scoped(select(Organization), Organization, actor)
        .where(
            or_(
                func.lower(Organization.name).like(like),
                func.lower(Organization.external_billing_id).like(like),
            )
        )
        .order_by(Organization.name)
        .limit(limit)
    )
    admins = session.scalars(
        scoped(select(Admin), Admin, actor)
        .where(or_(func.lower(Admin.email).like(like), func.lower(Admin.name).like(like)))
        .order_by(Admin.email)
        .limit(limit)
    )
    return [
        SearchResult("Organisations", o.name, url_for("portal.org_page", org_id=o.id), o.kind)
        for o in orgs
    ] + [
        SearchResult("Administrators", a.email, url_for("portal.admin_edit", admin_id=a.id), a.name)
        for a in admins
    ]
