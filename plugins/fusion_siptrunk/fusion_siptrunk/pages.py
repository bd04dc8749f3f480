"""Portal pages of SIP trunking: a subscription's trunks (one-click creation, per-SBC sync
badges, delete), a trunk's tabs (Details & Settings, Capacity, DIDs, Call barring and lists,
Calling plan, Access trunks) and the group's Settings (SBCs, block list, calling plans).

Like the Addresses pages they extend the portal's layout; the portal signs the administrator
in, checks CSRF on every POST and sets the actor before these views run. Views only read and
convert the form: every write is a `services` (or `plans`) call followed by a commit, and a
refused write shows the service's reasons beside its fields.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from markupsafe import Markup
from sqlalchemy import func, select

from fusion_core import permissions
from fusion_core.context import Actor, current_actor
from fusion_core.db import session
from fusion_core.errors import FusionError, NotFound
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.jobs import enqueue
from fusion_core.jobs.models import SyncStatus
from fusion_core.numbering.models import PhoneNumber
from fusion_core.registry import Card, MenuItem, SearchResult, Tab
from fusion_core.scope import load, scoped
from fusion_siptrunk import plans, services, sync
from fusion_siptrunk.addresses.models import Address
from fusion_siptrunk.models import (
    BARRING_CATEGORIES,
    DIRECTIONS,
    LICENCES,
    TRUNK_KINDS,
    AccessTrunk,
    CallingPlan,
    Did,
    Sbc,
    Trunk,
)
from fusion_siptrunk.sbc import FORMATS, TRANSPORTS
from webui.views import breadcrumbs

portal = Blueprint("siptrunk_portal", __name__, url_prefix="/siptrunk", template_folder="templates")

PER_PAGE = 100
KIND_LABELS = {
    "ip_pbx": "IP-PBX",
    "iad": "IAD",
    "teams": "Microsoft Teams",
    "other": "Other",
}
FORMAT_LABELS = {
    "e164": "E.164 (+441632960000)",
    "national": "National (01632960000)",
    "international": "International (00441632960000)",
}
CATEGORY_LABELS = {
    "international": "International",
    "premium": "Premium rate",
    "mobile": "Mobile",
    "national": "National",
    "toll_free": "Toll free",
    "special": "Special / shared cost",
}
TABS = (
    ("details", "Details & Settings", "trunk_page"),
    ("capacity", "Capacity", "trunk_capacity"),
    ("dids", "DIDs", "trunk_dids"),
    ("calls", "Call Barring / Block List / Allow List", "trunk_calls"),
    ("plan", "Calling Plan", "trunk_plan"),
    ("access", "Access Trunks", "trunk_access"),
)
ACCESS_TYPE = "siptrunk_access_trunks"
SBC_TYPE = "siptrunk_sbcs"


# --- rendering and form helpers -------------------------------------------------------------


def _render(template: str, status: int = 200, **context: Any):
    """A page extending the portal's layout (base.html, which adds the sidebar)."""
    actor = current_actor()
    context.setdefault("can_write", actor.can_write)
    context.setdefault("kind_labels", KIND_LABELS)
    context.setdefault("format_labels", FORMAT_LABELS)
    context.setdefault("category_labels", CATEGORY_LABELS)
    if "org" not in context:  # the sidebar opens down to the tenant the page is about
        sub, trunk = context.get("sub"), context.get("trunk")
        if sub is None and trunk is not None:
            sub = session.get(Subscription, trunk.subscription_id)
        context["org"] = sub.tenant if sub is not None else context.get("tenant")
    return render_template(template, **context), status


@portal.errorhandler(FusionError)
def _fusion_error(exc: FusionError):
    session.rollback()
    title = "Not found" if exc.status == 404 else "Not possible"
    return _render("error.html", exc.status, title=title, message=exc.message)


def _errors(exc: FusionError, aliases: dict[str, str] | None = None) -> dict[str, list[str]]:
    """The service's errors by form field: `aliases` renames service fields (a dotted key
    `access_trunks.0.host` may name the form's `pbx_host`)."""
    aliases = aliases or {}
    out: dict[str, list[str]] = {}
    for key, value in (exc.errors or {}).items():
        messages = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        name = aliases.get(key)
        if name is None:
            for pattern, target in aliases.items():
                if "*" in pattern and re.fullmatch(pattern.replace("*", r"\d+"), key):
                    name = target
                    break
        out.setdefault(name or key, []).extend(messages)
    if not out:
        out["_form"] = [exc.message]
    return out


def _text(name: str) -> str:
    return request.form.get(name, "").strip()


def _opt(name: str) -> str | None:
    return _text(name) or None


def _int(name: str) -> Any:
    """A whole number, or what was typed (the service refuses it by field name)."""
    value = _text(name)
    try:
        return int(value)
    except ValueError:
        return value


def _checked(name: str) -> bool:
    return request.form.get(name) in ("on", "true", "1", "yes")


def _lines(name: str) -> list[str]:
    return [line.strip() for line in request.form.get(name, "").splitlines() if line.strip()]


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError):
        return None


# --- loading and breadcrumbs ----------------------------------------------------------------


def _subscription(sub_id: uuid.UUID) -> Subscription:
    sub = load(Subscription, sub_id, what="subscription")
    if sub.platform != services.PLATFORM:
        raise NotFound(f"Subscription {sub.name} is not a SIP-trunking subscription.")
    return sub


def _sub_crumbs(sub: Subscription, *tail: tuple[str, str]) -> list[tuple[str, str]]:
    return [
        *breadcrumbs(sub.tenant),
        (sub.name, url_for("portal.subscription_page", sub_id=sub.id)),
        ("Trunks", url_for(".trunk_list", sub_id=sub.id)),
        *tail,
    ]


# --- sync status ----------------------------------------------------------------------------


def _sync_rows(trunks: list[Trunk]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Per trunk, each access trunk's SBC and sync state (three queries for the whole list)."""
    ids = [t.id for t in trunks]
    if not ids:
        return {}
    rows = session.execute(
        select(AccessTrunk, Sbc.name)
        .join(Sbc, Sbc.id == AccessTrunk.sbc_id)
        .where(AccessTrunk.trunk_id.in_(ids))
        .order_by(AccessTrunk.priority, Sbc.name)
    ).all()
    states = {
        s.entity_id: s
        for s in session.scalars(
            select(SyncStatus).where(
                SyncStatus.entity_type == ACCESS_TYPE,
                SyncStatus.entity_id.in_([str(a.id) for a, _ in rows]),
            )
        )
    }
    found: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    for access, sbc_name in rows:
        status = states.get(str(access.id))
        found[access.trunk_id].append(
            {
                "access": access,
                "sbc": sbc_name,
                "state": status.state if status else "pending",
                "error": status.last_error if status else None,
                "synced_at": status.last_synced_at if status else None,
                "attempts": status.attempts if status else 0,
            }
        )
    return found


def _shared_status(sbc: Sbc) -> SyncStatus | None:
    return session.scalar(
        select(SyncStatus).where(
            SyncStatus.entity_type == SBC_TYPE,
            SyncStatus.entity_id == str(sbc.id),
            SyncStatus.target == sync.SHARED_TARGET,
        )
    )


# --- a subscription's trunks ----------------------------------------------------------------


def _list_rows(trunks: list[Trunk]) -> list[dict[str, Any]]:
    ids = [t.id for t in trunks]
    dids = dict(
        session.execute(
            select(Did.trunk_id, func.count()).where(Did.trunk_id.in_(ids)).group_by(Did.trunk_id)
        ).all()
    )
    syncs = _sync_rows(trunks)
    return [
        {
            "trunk": t,
            "dids": dids.get(t.id, 0),
            "sync": syncs.get(t.id, []),
            "overall": sync.overall([r["state"] for r in syncs.get(t.id, [])]),
        }
        for t in trunks
    ]


def _tenant_addresses(tenant_id: uuid.UUID) -> list[Address]:
    return list(
        session.scalars(
            select(Address).where(Address.tenant_id == tenant_id).order_by(Address.label)
        )
    )


def _address_options(tenant_id: uuid.UUID) -> list[tuple[str, str]]:
    return [("", "— none")] + [
        (str(a.id), f"{a.label} ({a.status})") for a in _tenant_addresses(tenant_id)
    ]


def _countries() -> tuple[tuple[str, str], ...]:
    from fusion_siptrunk.addresses.validation import countries

    return countries()


NEW_TRUNK_ALIASES = {
    "access_trunks.*.host": "pbx_host",
    "access_trunks.*.port": "pbx_port",
    "access_trunks.*.transport": "transport",
    "access_trunks": "_form",
}


@portal.route("/subscriptions/<uuid:sub_id>/trunks", methods=["GET", "POST"])
@login_required
def trunk_list(sub_id: uuid.UUID):
    """The subscription's trunks, and the one-click form creating one on every SBC."""
    sub = _subscription(sub_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data: dict[str, Any] = {
            "name": _text("name"),
            "kind": _text("kind") or "ip_pbx",
            "licence": _text("licence") or "national",
            "pbx_host": _text("pbx_host"),
            "max_calls": _int("max_calls"),
        }
        if _text("pbx_port"):
            data["pbx_port"] = _int("pbx_port")
        for key in ("transport", "country", "address_id"):
            if _text(key):
                data[key] = _text(key)
        try:
            trunk = services.create_trunk(session, sub.id, data)
            session.commit()
        except FusionError as exc:
            session.rollback()
            errors = _errors(exc, NEW_TRUNK_ALIASES)
        else:
            flash(f"Trunk {trunk.name} created: it is being provisioned on every SBC.")
            return redirect(url_for(".trunk_page", trunk_id=trunk.id))
    trunks = list(
        session.scalars(services.list_trunks(session, subscription_id=sub.id).limit(PER_PAGE))
    )
    sbcs = services.group_sbcs(session, sub.org_path)
    return _render(
        "siptrunk/trunks.html",
        422 if errors else 200,
        sub=sub,
        rows=_list_rows(trunks),
        sbcs=sbcs,
        errors=errors,
        form=request.form if request.method == "POST" else {},
        kinds=TRUNK_KINDS,
        licences=LICENCES,
        transports=TRANSPORTS,
        countries=_countries(),
        address_options=_address_options(sub.tenant_id),
        crumbs=[*_sub_crumbs(sub)[:-1], ("Trunks", "")],
    )


@portal.get("/trunks")
@login_required
def trunk_index():
    """Every trunk in the administrator's scope (search by name or billing ID)."""
    q = request.args.get("q", "").strip()
    trunks = list(session.scalars(services.list_trunks(session, q=q or None).limit(PER_PAGE)))
    subs = {
        s.id: s
        for s in session.scalars(
            select(Subscription).where(Subscription.id.in_({t.subscription_id for t in trunks}))
        )
    }
    tenants = {
        o.id: o
        for o in session.scalars(
            select(Organization).where(Organization.id.in_({s.tenant_id for s in subs.values()}))
        )
    }
    own = session.scalars(
        scoped(select(Subscription), Subscription)
        .where(Subscription.platform == services.PLATFORM)
        .order_by(Subscription.name)
        .limit(PER_PAGE)
    ).all()
    return _render(
        "siptrunk/index.html",
        q=q,
        rows=_list_rows(trunks),
        subs=subs,
        tenants=tenants,
        subscriptions=own,
        crumbs=[("SIP trunks", "")],
    )


# --- a trunk's tabs -------------------------------------------------------------------------


def _trunk(trunk_id: uuid.UUID) -> Trunk:
    return services.get_trunk(session, trunk_id)


def _show(trunk: Trunk, tab: str, status: int = 200, **context: Any):
    """The trunk page with tab `tab`; what the tab shows is computed here."""
    actor = current_actor()
    sub = session.get(Subscription, trunk.subscription_id)
    context.setdefault("errors", {})
    context.setdefault("form", {})
    rows = _sync_rows([trunk]).get(trunk.id, [])
    if tab == "details":
        context["address_options"] = _address_options(sub.tenant_id)
    elif tab == "capacity":
        context["capacity"] = services.capacity_of(session, sub)
    elif tab == "dids":
        context["dids"] = list(session.scalars(services.list_dids(session, trunk)))
        context["numbers"] = list(
            session.scalars(
                select(PhoneNumber)
                .where(
                    PhoneNumber.subscription_id == trunk.subscription_id,
                    PhoneNumber.target_type.is_(None),
                )
                .order_by(PhoneNumber.e164)
                .limit(500)
            )
        )
        context["address_options"] = _address_options(sub.tenant_id)
    elif tab == "calls":
        context["block"] = list(
            session.scalars(services.list_entries(session, trunk=trunk, kind="block"))
        )
        context["allow"] = list(
            session.scalars(services.list_entries(session, trunk=trunk, kind="allow"))
        )
    elif tab == "plan":
        context["plan"] = services.trunk_plan(session, trunk)
        context["upstream"] = services.is_upstream(actor, trunk.org_path)
    elif tab == "access":
        used = {r["access"].sbc_id for r in rows}
        context["free_sbcs"] = [
            s for s in services.group_sbcs(session, trunk.org_path) if s.id not in used
        ]
    address = session.get(Address, trunk.address_id) if trunk.address_id else None
    tabs = [
        (key, label, url_for(f".{endpoint}", trunk_id=trunk.id)) for key, label, endpoint in TABS
    ]
    label = dict((k, v) for k, v, _ in TABS)[tab]
    return _render(
        f"siptrunk/tab_{tab}.html",
        status,
        trunk=trunk,
        sub=sub,
        tab=tab,
        tabs=tabs,
        sync_rows=rows,
        overall=sync.overall([r["state"] for r in rows]),
        address=address,
        formats=FORMATS,
        categories=BARRING_CATEGORIES,
        directions=DIRECTIONS,
        transports=TRANSPORTS,
        crumbs=_sub_crumbs(
            sub, (trunk.name, url_for(".trunk_page", trunk_id=trunk.id)), (label, "")
        ),
        **context,
    )


def _save(trunk: Trunk, tab: str, action, message: str, aliases: dict[str, str] | None = None):
    """Run `action()` (a service call), commit and go back to the tab; or show the tab again
    with the service's reasons beside the fields."""
    try:
        action()
        session.commit()
    except FusionError as exc:
        session.rollback()
        trunk = _trunk(trunk.id)
        return _show(trunk, tab, exc.status, errors=_errors(exc, aliases), form=request.form)
    flash(message)
    endpoint = dict((k, e) for k, _, e in TABS)[tab]
    return redirect(url_for(f".{endpoint}", trunk_id=trunk.id))


@portal.route("/trunks/<uuid:trunk_id>", methods=["GET", "POST"])
@login_required
def trunk_page(trunk_id: uuid.UUID):
    """Details & Settings: name, billing ID, presentation formats, calls in and out,
    disaster recovery, emergency address; the sync status of each PoP."""
    trunk = _trunk(trunk_id)
    if request.method == "GET":
        return _show(trunk, "details")
    data = {
        "name": _text("name"),
        "billing_id": _opt("billing_id"),
        "format_in": _text("format_in"),
        "format_out": _text("format_out"),
        "inbound_enabled": _checked("inbound_enabled"),
        "outbound_enabled": _checked("outbound_enabled"),
        "dr_destination": _opt("dr_destination"),
        "dr_active": _checked("dr_active"),
        "address_id": _opt("address_id"),
    }
    return _save(
        trunk,
        "details",
        lambda: services.update_trunk(session, trunk, data),
        f"Trunk {data['name'] or trunk.name} saved: the SBCs are being updated.",
    )


SWITCHES = {
    "dr_active": ("Disaster recovery", "activated", "deactivated"),
    "inbound_enabled": ("Inbound calls", "enabled", "disabled"),
    "outbound_enabled": ("Outbound calls", "enabled", "disabled"),
}


@portal.post("/trunks/<uuid:trunk_id>/switch")
@login_required
def trunk_switch(trunk_id: uuid.UUID):
    """The high-level switches above the tabs: disaster recovery, inbound, outbound."""
    trunk = _trunk(trunk_id)
    field = _text("field")
    if field not in SWITCHES:
        raise NotFound(f"No switch {field!r}.")
    value = _text("value") == "on"
    label, on, off = SWITCHES[field]
    return _save(
        trunk,
        "details",
        lambda: services.update_trunk(session, trunk, {field: value}),
        f"{label} {on if value else off} on {trunk.name}.",
    )


@portal.post("/trunks/<uuid:trunk_id>/resync")
@login_required
def trunk_resync(trunk_id: uuid.UUID):
    trunk = _trunk(trunk_id)
    permissions.require_write(current_actor())
    sync.request(session, trunk)
    session.commit()
    flash(f"Trunk {trunk.name}: a new sync with every SBC was requested.")
    return redirect(url_for(".trunk_page", trunk_id=trunk.id))


@portal.route("/trunks/<uuid:trunk_id>/delete", methods=["GET", "POST"])
@login_required
def trunk_delete(trunk_id: uuid.UUID):
    trunk = _trunk(trunk_id)
    sub = session.get(Subscription, trunk.subscription_id)
    back = url_for(".trunk_list", sub_id=sub.id)
    if request.method == "POST":
        name = trunk.name
        services.delete_trunk(session, trunk)
        session.commit()
        flash(f"Trunk {name} deleted: it is being removed from every SBC.")
        return redirect(back)
    return _render(
        "confirm_delete.html",
        what=f"trunk {trunk.name}",
        blockers=[],
        back=back,
        crumbs=_sub_crumbs(
            sub, (trunk.name, url_for(".trunk_page", trunk_id=trunk.id)), ("Delete", "")
        ),
    )


# Capacity


@portal.route("/trunks/<uuid:trunk_id>/capacity", methods=["GET", "POST"])
@login_required
def trunk_capacity(trunk_id: uuid.UUID):
    trunk = _trunk(trunk_id)
    if request.method == "GET":
        return _show(trunk, "capacity")
    max_calls = _int("max_calls")
    return _save(
        trunk,
        "capacity",
        lambda: services.update_trunk(session, trunk, {"max_calls": max_calls}),
        f"Trunk {trunk.name}: at most {max_calls} simultaneous calls.",
    )


@portal.post("/trunks/<uuid:trunk_id>/subscription-capacity")
@login_required
def subscription_capacity(trunk_id: uuid.UUID):
    """The subscription's own limit, set from one of its trunks' Capacity tab."""
    trunk = _trunk(trunk_id)
    sub = session.get(Subscription, trunk.subscription_id)
    limit = _int("sub_max_calls") if _text("sub_max_calls") else None
    return _save(
        trunk,
        "capacity",
        lambda: services.set_subscription_limit(session, sub, limit),
        f"Subscription {sub.name}: "
        + (f"at most {limit} simultaneous calls." if limit is not None else "no own limit."),
        {"max_calls": "sub_max_calls"},
    )


# DIDs


def _did_form() -> dict[str, Any]:
    return {
        "pilot": _checked("pilot"),
        "rewrite_to": _opt("rewrite_to"),
        "divert_to": _opt("divert_to"),
        "dr_destination": _opt("dr_destination"),
        "dr_active": _checked("dr_active"),
        "address_id": _opt("address_id"),
    }


@portal.route("/trunks/<uuid:trunk_id>/dids", methods=["GET", "POST"])
@login_required
def trunk_dids(trunk_id: uuid.UUID):
    """The trunk's numbers; the form adds one of the subscription's unassigned numbers."""
    trunk = _trunk(trunk_id)
    if request.method == "GET":
        return _show(trunk, "dids")
    data = {"number_id": _text("number_id"), **_did_form()}
    if not _checked("pilot"):
        data.pop("pilot")  # the service makes the first DID the pilot
    number = session.get(PhoneNumber, _uuid(data["number_id"]))
    e164 = number.e164 if number else data["number_id"]
    return _save(
        trunk,
        "dids",
        lambda: services.add_did(session, trunk, data),  # commits
        f"{e164} added to trunk {trunk.name}.",
    )


@portal.route("/trunks/<uuid:trunk_id>/dids/<uuid:did_id>", methods=["GET", "POST"])
@login_required
def did_page(trunk_id: uuid.UUID, did_id: uuid.UUID):
    trunk = _trunk(trunk_id)
    did = services.get_did(session, trunk, did_id)
    sub = session.get(Subscription, trunk.subscription_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            services.update_did(session, did, _did_form())
            session.commit()
        except FusionError as exc:
            session.rollback()
            errors = _errors(exc)
            did = services.get_did(session, trunk, did_id)
        else:
            flash(f"DID {did.e164} saved.")
            return redirect(url_for(".trunk_dids", trunk_id=trunk.id))
    return _render(
        "siptrunk/did.html",
        422 if errors else 200,
        trunk=trunk,
        did=did,
        errors=errors,
        form=request.form if request.method == "POST" else {},
        address_options=_address_options(sub.tenant_id),
        crumbs=_sub_crumbs(
            sub,
            (trunk.name, url_for(".trunk_page", trunk_id=trunk.id)),
            ("DIDs", url_for(".trunk_dids", trunk_id=trunk.id)),
            (did.e164, ""),
        ),
    )


@portal.post("/trunks/<uuid:trunk_id>/dids/<uuid:did_id>/remove")
@login_required
def did_remove(trunk_id: uuid.UUID, did_id: uuid.UUID):
    trunk = _trunk(trunk_id)
    did = services.get_did(session, trunk, did_id)
    e164 = did.e164
    return _save(
        trunk,
        "dids",
        lambda: services.remove_did(session, did),  # commits
        f"{e164} taken off trunk {trunk.name}; it stays with the subscription.",
    )


# Call barring, block list, allow list


@portal.post("/trunks/<uuid:trunk_id>/barring")
@login_required
def trunk_barring(trunk_id: uuid.UUID):
    trunk = _trunk(trunk_id)
    barred = request.form.getlist("barred")
    return _save(
        trunk,
        "calls",
        lambda: services.update_trunk(session, trunk, {"barred": barred}),
        f"Call barring of {trunk.name} saved.",
    )


@portal.get("/trunks/<uuid:trunk_id>/calls")
@login_required
def trunk_calls(trunk_id: uuid.UUID):
    return _show(_trunk(trunk_id), "calls")


@portal.post("/trunks/<uuid:trunk_id>/lists/<any(block, allow):kind>")
@login_required
def entry_add(trunk_id: uuid.UUID, kind: str):
    trunk = _trunk(trunk_id)
    data = {"prefix": _text(f"{kind}_prefix"), "note": _opt(f"{kind}_note")}
    return _save(
        trunk,
        "calls",
        lambda: services.add_entry(session, trunk=trunk, kind=kind, data=data),
        f"{data['prefix']} added to the {kind} list of {trunk.name}.",
        {"prefix": f"{kind}_prefix", "note": f"{kind}_note"},
    )


@portal.post("/trunks/<uuid:trunk_id>/lists/<any(block, allow):kind>/<uuid:entry_id>/remove")
@login_required
def entry_remove(trunk_id: uuid.UUID, kind: str, entry_id: uuid.UUID):
    trunk = _trunk(trunk_id)
    entry = services.get_entry(session, entry_id, trunk=trunk, kind=kind)
    prefix = entry.prefix
    return _save(
        trunk,
        "calls",
        lambda: services.remove_entry(session, entry),
        f"{prefix} removed from the {kind} list of {trunk.name}.",
    )


# Calling plan


@portal.route("/trunks/<uuid:trunk_id>/plan", methods=["GET", "POST"])
@login_required
def trunk_plan(trunk_id: uuid.UUID):
    """Each class of the country's plan: enabled (tenants, unless locked), locked (upstream
    administrators only). Only what changed is sent to the service."""
    trunk = _trunk(trunk_id)
    if request.method == "GET":
        return _show(trunk, "plan")
    current = services.trunk_plan(session, trunk)
    upstream = services.is_upstream(current_actor(), trunk.org_path)
    changes: dict[str, dict[str, bool]] = {}
    for row in current["classes"]:
        key = row["key"]
        if f"present.{key}" not in request.form:
            continue  # a disabled (locked) checkbox is not posted
        change = {}
        enabled = _checked(f"enabled.{key}")
        if enabled != row["enabled"]:
            change["enabled"] = enabled
        if upstream:
            locked = _checked(f"locked.{key}")
            if locked != row["locked"]:
                change["locked"] = locked
        if change:
            changes[key] = change
    return _save(
        trunk,
        "plan",
        lambda: services.update_trunk_plan(session, trunk, changes),
        f"Calling plan of {trunk.name} saved.",
    )


# Access trunks (PoPs)


def _access_form(new: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "locale": _text("locale"),
        "realm": _opt("realm"),
        "direction": _text("direction"),
        "options_ping": _checked("options_ping"),
        "transport": _text("transport"),
        "host": _text("host"),
        "port": _int("port"),
        "priority": _int("priority"),
        "weight": _int("weight"),
    }
    if new:
        data["sbc_id"] = _text("sbc_id")
        if not data["locale"]:
            data.pop("locale")  # the SBC's own
    if "sources" in request.form:
        data["sources"] = _lines("sources")
    return data


@portal.route("/trunks/<uuid:trunk_id>/access", methods=["GET", "POST"])
@login_required
def trunk_access(trunk_id: uuid.UUID):
    trunk = _trunk(trunk_id)
    if request.method == "GET":
        return _show(trunk, "access")
    data = _access_form(new=True)
    return _save(
        trunk,
        "access",
        lambda: services.add_access_trunk(session, trunk, data),
        f"Access trunk added to {trunk.name}: it is being provisioned.",
    )


@portal.route("/trunks/<uuid:trunk_id>/access/<uuid:access_id>", methods=["GET", "POST"])
@login_required
def access_page(trunk_id: uuid.UUID, access_id: uuid.UUID):
    trunk = _trunk(trunk_id)
    access = services.get_access_trunk(session, trunk, access_id)
    sub = session.get(Subscription, trunk.subscription_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            services.update_access_trunk(session, access, _access_form(new=False))
            session.commit()
        except FusionError as exc:
            session.rollback()
            errors = _errors(exc)
            access = services.get_access_trunk(session, trunk, access_id)
        else:
            flash(f"Access trunk on {access.sbc.name} saved: it is being provisioned.")
            return redirect(url_for(".trunk_access", trunk_id=trunk.id))
    return _render(
        "siptrunk/access.html",
        422 if errors else 200,
        trunk=trunk,
        access=access,
        errors=errors,
        form=request.form if request.method == "POST" else {},
        directions=DIRECTIONS,
        transports=TRANSPORTS,
        crumbs=_sub_crumbs(
            sub,
            (trunk.name, url_for(".trunk_page", trunk_id=trunk.id)),
            ("Access Trunks", url_for(".trunk_access", trunk_id=trunk.id)),
            (access.sbc.name, ""),
        ),
    )


@portal.post("/trunks/<uuid:trunk_id>/access/<uuid:access_id>/remove")
@login_required
def access_remove(trunk_id: uuid.UUID, access_id: uuid.UUID):
    trunk = _trunk(trunk_id)
    access = services.get_access_trunk(session, trunk, access_id)
    name = access.sbc.name
    return _save(
        trunk,
        "access",
        lambda: services.delete_access_trunk(session, access),
        f"Access trunk on {name} removed from {trunk.name}.",
    )


# --- the group's Settings: SBCs, block list, calling plans ---------------------------------


def _require_group_page() -> Actor:
    actor = current_actor()
    if not (actor.is_group or actor.unrestricted):
        raise NotFound("There is no page here.")
    return actor


SECRET_KEY = re.compile(r"pass|secret|token|key|credential", re.I)


def _redacted(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """The driver's connection details without secrets: passwords in URLs and values of
    secret-sounding keys are masked."""
    out = []
    for key, value in sorted((settings or {}).items()):
        if SECRET_KEY.search(key):
            out.append((key, "••••"))
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        try:
            parts = urlsplit(text)
            if parts.password:
                host = parts.hostname or ""
                if parts.port:
                    host += f":{parts.port}"
                netloc = f"{parts.username}:••••@{host}"
                text = urlunsplit(parts._replace(netloc=netloc))
        except ValueError:
            pass
        out.append((key, text))
    return out


def _settings_crumbs(*tail: tuple[str, str]) -> list[tuple[str, str]]:
    return [("SIP trunking settings", url_for(".settings")), *tail]


@portal.get("/settings")
@login_required
def settings():
    return _settings_view()


def _settings_view(status: int = 200, errors=None, form=None):
    """The group's SBCs (connection details without secrets, shared sync state, last
    reconcile), its block list and its calling plans; `errors` of a refused form."""
    actor = _require_group_page()
    path = services.group_path(actor.org_path) if actor.org_path else None
    sbcs = services.list_sbcs(session)
    block = list(
        session.scalars(services.list_entries(session, trunk=None, kind="block", group=path))
    )
    plan_rows = list(
        session.scalars(scoped(select(CallingPlan), CallingPlan).order_by(CallingPlan.country))
    )
    return _render(
        "siptrunk/settings.html",
        status,
        sbcs=[
            {
                "sbc": s,
                "details": _redacted(s.settings),
                "shared": _shared_status(s),
                "reconcile": sync.last_reconcile(s),
            }
            for s in sbcs
        ],
        block=block,
        plans=plan_rows,
        errors=errors or {},
        form=form or {},
        countries=_countries(),
        crumbs=[("SIP trunking settings", "")],
    )


def _sbc_form(new: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": _text("name"),
        "driver": _text("driver"),
        "locale": _text("locale"),
        "signalling_host": _text("signalling_host"),
        "signalling_port": _int("signalling_port"),
        "enabled": _checked("enabled"),
        "carrier_sources": _lines("carrier_sources"),
        "carrier_gateways": [],
    }
    for line in _lines("carrier_gateways"):
        host, _, rest = line.partition(" ")
        port, _, transport = rest.strip().partition(" ")
        gateway: dict[str, Any] = {"host": host}
        if port:
            gateway["port"] = int(port) if port.isdigit() else port
        if transport.strip():
            gateway["transport"] = transport.strip()
        data["carrier_gateways"].append(gateway)
    raw = _text("settings")
    if raw:
        try:
            data["settings"] = json.loads(raw)
        except ValueError:
            data["settings"] = raw  # the service refuses it beside the field
    elif new:
        data["settings"] = {}
    return data


SBC_ALIASES = {
    "carrier_sources.*": "carrier_sources",
    "carrier_gateways.*": "carrier_gateways",
    "carrier_gateways.*.host": "carrier_gateways",
    "carrier_gateways.*.port": "carrier_gateways",
    "carrier_gateways.*.transport": "carrier_gateways",
}


def _sbc_page(sbc: Sbc | None):
    _require_group_page()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data = _sbc_form(new=sbc is None)
        try:
            if sbc is None:
                sbc = services.create_sbc(session, data)
            else:
                services.update_sbc(session, sbc, data)
            session.commit()
        except FusionError as exc:
            session.rollback()
            errors = _errors(exc, SBC_ALIASES)
            if sbc is not None:
                sbc = services.get_sbc(session, sbc.id)
        else:
            flash(f"SBC {sbc.name} saved: it is being configured.")
            return redirect(url_for(".settings"))
    return _render(
        "siptrunk/sbc.html",
        422 if errors else 200,
        sbc=sbc,
        errors=errors,
        form=request.form if request.method == "POST" else {},
        drivers=sorted(sync.drivers()),
        crumbs=_settings_crumbs((sbc.name if sbc else "New SBC", "")),
    )


@portal.route("/settings/sbcs/new", methods=["GET", "POST"])
@login_required
def sbc_new():
    return _sbc_page(None)


@portal.route("/settings/sbcs/<uuid:sbc_id>", methods=["GET", "POST"])
@login_required
def sbc_page(sbc_id: uuid.UUID):
    _require_group_page()
    return _sbc_page(services.get_sbc(session, sbc_id))


@portal.post("/settings/sbcs/<uuid:sbc_id>/reconcile")
@login_required
def sbc_reconcile(sbc_id: uuid.UUID):
    actor = _require_group_page()
    sbc = services.get_sbc(session, sbc_id)
    permissions.require_write(actor)
    enqueue(session, sync.RECONCILE_JOB, sbc_id=str(sbc.id))
    session.commit()
    flash(f"SBC {sbc.name}: a reconcile was requested; its report shows below when done.")
    return redirect(url_for(".settings"))


@portal.route("/settings/sbcs/<uuid:sbc_id>/delete", methods=["GET", "POST"])
@login_required
def sbc_delete(sbc_id: uuid.UUID):
    _require_group_page()
    sbc = services.get_sbc(session, sbc_id)
    back = url_for(".settings")
    blockers: list[str] = []
    if request.method == "POST":
        name = sbc.name
        try:
            services.delete_sbc(session, sbc)
            session.commit()
        except FusionError as exc:
            session.rollback()
            blockers = [m for msgs in _errors(exc).values() for m in msgs]
        else:
            flash(f"SBC {name} deleted.")
            return redirect(back)
    return _render(
        "confirm_delete.html",
        409 if blockers else 200,
        what=f"SBC {sbc.name}",
        blockers=blockers,
        back=back,
        crumbs=_settings_crumbs((sbc.name, url_for(".sbc_page", sbc_id=sbc.id)), ("Delete", "")),
    )


@portal.post("/settings/block")
@login_required
def group_block_add():
    _require_group_page()
    data = {"prefix": _text("prefix"), "note": _opt("note")}
    try:
        services.add_entry(session, trunk=None, kind="block", data=data)
        session.commit()
    except FusionError as exc:
        session.rollback()
        return _settings_view(exc.status, errors=_errors(exc), form=request.form)
    flash(f"{data['prefix']} added to the group's block list.")
    return redirect(url_for(".settings") + "#block-list")


@portal.post("/settings/block/<uuid:entry_id>/remove")
@login_required
def group_block_remove(entry_id: uuid.UUID):
    _require_group_page()
    entry = services.get_entry(session, entry_id, trunk=None, kind="block")
    prefix = entry.prefix
    services.remove_entry(session, entry)
    session.commit()
    flash(f"{prefix} removed from the group's block list.")
    return redirect(url_for(".settings") + "#block-list")


@portal.post("/settings/plans")
@login_required
def plan_add():
    """A calling plan for one more country, from the defaults."""
    actor = _require_group_page()
    try:
        permissions.require(actor, "siptrunk.calling_plans")
        country = services.check_country(_text("country"))
        plan = plans.plan_for(session, services.group_path(actor.org_path), country)
        session.commit()
    except FusionError as exc:
        session.rollback()
        return _settings_view(exc.status, errors=_errors(exc), form=request.form)
    return redirect(url_for(".plan_page", plan_id=plan.id))


@portal.route("/settings/plans/<uuid:plan_id>", methods=["GET", "POST"])
@login_required
def plan_page(plan_id: uuid.UUID):
    """A country's classes, edited as JSON (key, label, category, pattern, default)."""
    actor = _require_group_page()
    plan = load(CallingPlan, plan_id, what="calling plan")
    errors: dict[str, list[str]] = {}
    raw = json.dumps(plan.classes, indent=2)
    if request.method == "POST":
        raw = request.form.get("classes", "")
        try:
            permissions.require(actor, "siptrunk.calling_plans")
            try:
                classes = json.loads(raw)
            except ValueError as exc:
                raise services._fail("classes", f"Not JSON: {exc}.") from None
            plans.update_plan(session, plan, classes)
            session.commit()
        except FusionError as exc:
            session.rollback()
            errors = {"classes": [m for msgs in _errors(exc).values() for m in msgs]}
            plan = load(CallingPlan, plan_id, what="calling plan")
        else:
            flash(f"Calling plan {plan.country} saved: the SBCs and trunks are being updated.")
            return redirect(url_for(".settings") + "#plans")
    return _render(
        "siptrunk/plan.html",
        422 if errors else 200,
        plan=plan,
        raw=raw,
        errors=errors,
        categories=BARRING_CATEGORIES,
        crumbs=_settings_crumbs((f"Calling plan {plan.country}", "")),
    )


# --- portal hooks (called from plugin.py) ---------------------------------------------------


@portal.route("/tenants/<uuid:tenant_id>/settings", methods=["GET", "POST"])
@login_required
def tenant_settings(tenant_id: uuid.UUID):
    """A tenant's SIP-trunking defaults: what new trunks start from."""
    tenant = load(Organization, tenant_id)
    found = services.tenant_settings(session, tenant)
    errors: dict[str, list[str]] = {}
    message = None
    status = 200
    if request.method == "POST":
        data = {
            "country": _opt("country"),
            "format_in": _text("format_in"),
            "format_out": _text("format_out"),
            "address_id": _opt("address_id"),
        }
        try:
            found = services.update_tenant_settings(session, tenant, data)
            session.commit()
            message = "Saved: new trunks start from these settings."
        except FusionError as exc:
            session.rollback()
            if exc.status not in (400, 409, 422):
                raise
            errors, status = _errors(exc), exc.status
            found = services.tenant_settings(session, tenant)
    return _render(
        "siptrunk/tenant_settings.html",
        status,
        tenant=tenant,
        settings=found,
        countries=_countries(),
        addresses=_address_options(tenant.id),
        errors=errors,
        form=request.form if errors else {},
        message=message,
        crumbs=[*breadcrumbs(tenant), ("SIP-trunking settings", "")],
    )


def _siptrunk_subscriptions(tenant: Organization) -> list[Subscription]:
    return list(
        session.scalars(
            select(Subscription)
            .where(
                Subscription.tenant_id == tenant.id,
                Subscription.platform == services.PLATFORM,
            )
            .order_by(Subscription.name)
        )
    )


def tenant_card(actor: Actor, tenant: Organization) -> Card | None:
    """The Trunks card: how many trunks per subscription, their sync state, links."""
    subs = _siptrunk_subscriptions(tenant)
    if not subs:
        return None
    counts = dict(
        session.execute(
            select(Trunk.subscription_id, func.count())
            .where(Trunk.subscription_id.in_([s.id for s in subs]))
            .group_by(Trunk.subscription_id)
        ).all()
    )
    access_ids = session.scalars(
        select(AccessTrunk.id)
        .join(Trunk, Trunk.id == AccessTrunk.trunk_id)
        .where(Trunk.subscription_id.in_([s.id for s in subs]))
    ).all()
    known = dict(
        session.execute(
            select(SyncStatus.entity_id, SyncStatus.state).where(
                SyncStatus.entity_type == ACCESS_TYPE,
                SyncStatus.entity_id.in_([str(i) for i in access_ids]),
            )
        ).all()
    )
    states = [known.get(str(i), "pending") for i in access_ids]
    items = Markup("").join(
        Markup('<li><a href="{}">{}</a>: {} trunk(s)</li>').format(
            url_for("siptrunk_portal.trunk_list", sub_id=s.id), s.name, counts.get(s.id, 0)
        )
        for s in subs
    )
    total = sum(counts.values())
    body = Markup("<ul>{}</ul>").format(items)
    if total:
        state = sync.overall(list(states))
        body += Markup('<p>SBC sync: <span class="sync sync-{}">{}</span></p>').format(
            state, state.replace("_", " ")
        )
    body += Markup('<p><a href="{}">SIP-trunking settings</a>: defaults of new trunks</p>').format(
        url_for("siptrunk_portal.tenant_settings", tenant_id=tenant.id)
    )
    url = url_for("siptrunk_portal.trunk_list", sub_id=subs[0].id)
    return Card("siptrunk-trunks", "Trunks", body, url=url, order=40)


def subscription_tab(actor: Actor, subscription: Subscription) -> Tab | None:
    if subscription.platform != services.PLATFORM:
        return None
    url = url_for("siptrunk_portal.trunk_list", sub_id=subscription.id)
    return Tab("siptrunk-trunks", "Trunks", url=url, order=20)


def menu(actor: Actor) -> list[MenuItem]:
    if not actor.is_admin:
        return []
    items = []
    has_trunking = session.scalar(
        scoped(select(Subscription.id), Subscription, actor)
        .where(Subscription.platform == services.PLATFORM)
        .limit(1)
    )
    if has_trunking is not None:
        items.append(MenuItem("Trunks", url_for("siptrunk_portal.trunk_index"), "platforms", 10))
        items.append(
            MenuItem(
                "SIP capacity", url_for("siptrunk_report_pages.capacity_page"), "platforms", 20
            )
        )
    if actor.is_group:
        items.append(MenuItem("SIP settings", url_for("siptrunk_portal.settings"), "platforms", 90))
    return items


def search(actor: Actor, query: str, limit: int) -> list[SearchResult]:
    query = query.strip()
    if not query or (not actor.is_admin and not actor.unrestricted):
        return []
    trunks = session.scalars(services.list_trunks(session, q=query, actor=actor).limit(limit))
    return [
        SearchResult(
            "SIP trunks",
            t.name,
            url_for("siptrunk_portal.trunk_page", trunk_id=t.id),
            " · ".join(x for x in (KIND_LABELS.get(t.kind, t.kind), t.billing_id) if x),
        )
        for t in trunks
    ]
