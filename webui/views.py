"""The portal's shell: login and passwords, branding, navigation, sidebar, search, settings.

Session login (Flask-Login) with CSRF on every form (Flask-WTF); the API under /api/ keeps
bearer tokens and is exempt. Views validate input with the API's schemas and call the core's
services, which own the rules, the transactions and the audit.
"""

from __future__ import annotations

import functools
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask import (
    session as http_session,
)
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from marshmallow import Schema, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.util import identity_key

from fusion_core.api.http import act_as
from fusion_core.context import acting_as, current_actor
from fusion_core.db import get_db, session
from fusion_core.errors import FusionError, NotFound, TooManyRequests, Unauthorized
from fusion_core.hierarchy import services as hierarchy
from fusion_core.hierarchy.models import Organization
from fusion_core.iam import services as iam
from fusion_core.iam.models import Admin
from fusion_core.plugins import menu
from fusion_core.scope import in_scope, load
from webui import accounts
from webui.branding import brand_of, current_brand
from webui.mail import queue_mail, sender_for

portal = Blueprint(
    "portal",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/portal-static",
)
login_manager = LoginManager()
login_manager.login_view = "portal.login"
login_manager.login_message = "Sign in to continue."
login_manager.session_protection = "strong"
csrf = CSRFProtect()

# Front-end packages are installed from npm by `make run` (see package.json), never vendored.
NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
SIDEBAR_PAGE = 50
IDLE_MINUTES = 30  # sign out after this long without a request (PORTAL_IDLE_MINUTES)


@portal.record_once
def _setup(state) -> None:
    app = state.app
    login_manager.init_app(app)
    # CSRF is checked for every portal form; the API authenticates with bearer tokens instead.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the session's own expiry bounds it
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=12))
    app.config.setdefault("PORTAL_IDLE_MINUTES", IDLE_MINUTES)
    csrf.init_app(app)


@login_manager.user_loader
def _load_admin(admin_id: str) -> Admin | None:
    try:
        # The organisation comes in the same query: every page needs it (menu, sidebar).
        admin = get_db().session.get(
            Admin, uuid.UUID(admin_id), options=[joinedload(Admin.organization)]
        )
    except ValueError:
        return None
    return admin if admin is not None and admin.active else None


@portal.before_app_request
def _portal_request():
    if request.path.startswith("/api/"):
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()
    if not current_user.is_authenticated:
        return None
    now = datetime.now(UTC).timestamp()
    idle = current_app.config["PORTAL_IDLE_MINUTES"] * 60
    if now - http_session.get("seen", now) > idle:
        logout_user()
        http_session.pop("seen", None)
        flash("Your session expired; please sign in again.")
        return redirect(url_for("portal.login", next=request.full_path))
    http_session["seen"] = now
    act_as(iam.actor_for(current_user, "portal", g.get("request_id")))
    return None


# --- rendering helpers ----------------------------------------------------------------------


def hook():
    return current_app.extensions["fusion.plugins"].hook


def flatten(results) -> list[Any]:
    return [item for result in results for item in result or []]


def sidebar_children(parent_id: uuid.UUID, page: int = 1) -> tuple[list[Any], bool]:
    """One page of an organisation's children (id, name, kind). The caller has loaded the
    parent through the scope (the administrator's own organisation, an ancestor of a page's
    organisation below it, or `load`): its children are in scope too, so the query is on
    `parent_id` alone. (With the scope's `org_path` range added, PostgreSQL's generic plan for
    the prepared statement ANDed a bitmap of the whole range: 25 ms for a group administrator
    with 100,000 tenants, instead of 0.4.)"""
    rows = session.execute(
        select(Organization.id, Organization.name, Organization.kind)
        .where(Organization.parent_id == parent_id)
        .order_by(Organization.name, Organization.id)
        .limit(SIDEBAR_PAGE + 1)
        .offset((page - 1) * SIDEBAR_PAGE)
    ).all()
    return rows[:SIDEBAR_PAGE], len(rows) > SIDEBAR_PAGE


def breadcrumbs(org: Organization) -> list[tuple[str, str]]:
    """The path from the actor's own organisation down to `org` (one query)."""
    ids = org.ancestor_ids
    # Ancestors already loaded in this request (the admin's own organisation) cost nothing.
    rows: dict[uuid.UUID, Any] = {}
    for ident in ids:
        known = session.identity_map.get(identity_key(Organization, ident))
        if known is not None:
            rows[ident] = known
    missing = [i for i in ids if i not in rows]
    if missing:
        rows.update(
            (row.id, row)
            for row in session.execute(
                select(Organization.id, Organization.name, Organization.org_path).where(
                    Organization.id.in_(missing)
                )
            )
        )
    return [
        (rows[i].name, url_for("portal.org_page", org_id=i))
        for i in ids
        if i in rows and in_scope(rows[i].org_path)
    ]


@portal.app_context_processor
def _layout() -> dict[str, Any]:
    # Every page but the API's: plugins' portal pages extend the same layout.
    if request.path.startswith("/api/"):
        return {}
    context: dict[str, Any] = {"brand": current_brand()}
    if current_user.is_authenticated:
        actor = current_actor()
        context["menu"] = menu(actor)
        context["home_org"] = current_user.organization
        # Called by base.html with the page's `org`, so any page extending the layout (a
        # plugin's too) gets the sidebar opened down to the organisation it is about.
        context["layout_sidebar"] = lambda here: sidebar_for(current_user.organization, here)
    return context


def render(template: str, status: int = 200, **context: Any):
    return render_template(template, **context), status


def sidebar_for(root: Organization, here: Organization | None) -> dict[str, Any]:
    """The sidebar: the root's children, and, on an organisation's page, the tree opened along
    the path from the root down to it (each level's first page, with the path's own node added
    when it lies on a later page), the current organisation marked. One query per level."""
    rows, more = sidebar_children(root.id)
    opened: dict[uuid.UUID, tuple[list[Any], bool]] = {}
    path = here.ancestor_ids if here is not None else []
    if root.id in path:
        below = path[path.index(root.id) + 1 :]
        stops = below[:-1] if here.kind == "tenant" else below  # a tenant has no children
        level_rows = rows
        for ident in below:
            if not any(r.id == ident for r in level_rows):
                node = session.execute(
                    select(Organization.id, Organization.name, Organization.kind).where(
                        Organization.id == ident
                    )
                ).first()
                if node is None:
                    break
                level_rows.append(node)
            if ident not in stops:
                break
            children, more_here = sidebar_children(ident)
            opened[ident] = (children, more_here)
            level_rows = children
    return {
        "root": root,
        "rows": rows,
        "more": more,
        "opened": opened,
        "current": here.id if here is not None else None,
    }


def field_errors(exc: FusionError | ValidationError) -> dict[str, list[str]]:
    messages = exc.messages if isinstance(exc, ValidationError) else exc.errors
    out: dict[str, list[str]] = {}
    for key, value in (messages or {}).items():
        out[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if not out:  # an error about the whole form (e.g. a read-only role): shown above it
        out["_form"] = [getattr(exc, "message", str(exc))]
    return out


def validated(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """Load form fields with the API's schema, so the portal and the API accept the same input."""
    return schema.load({k: v for k, v in data.items() if v is not None})


def form_value(name: str) -> str | None:
    value = request.form.get(name, "").strip()
    return value or None


@portal.errorhandler(FusionError)
def _fusion_error(exc: FusionError):
    session.rollback()
    if exc.status == 404:
        return render("error.html", 404, title="Not found", message=exc.message)
    return render("error.html", exc.status, title="Not possible", message=exc.message)


@portal.app_errorhandler(404)
def _not_found(exc):
    """Unknown portal addresses get a page; the API keeps its JSON errors."""
    if request.path.startswith("/api/") or request.path.startswith("/vendor/"):
        from fusion_core.api.errors import handle_http_exception

        return handle_http_exception(exc)
    return render("error.html", 404, title="Not found", message="There is no page here.")


@portal.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError):
    return render(
        "error.html", 400, title="The form expired", message="Reload the page and try again."
    )


# --- sign-in, sign-out, passwords -----------------------------------------------------------


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("portal.home")


@portal.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("portal.home"))
    return redirect(url_for("portal.login"))


@portal.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("portal.home"))
    error, status = None, 200
    if request.method == "POST":
        try:
            admin = iam.authenticate(
                session,
                request.form.get("email", ""),
                request.form.get("password", ""),
                request.remote_addr,
            )
            brand = current_brand()
            # A branded portal signs in only its own group's administrators.
            if brand.group_path and not admin.org_path.startswith(brand.group_path):
                raise Unauthorized("Wrong email or password.")
        except (Unauthorized, TooManyRequests) as exc:
            error, status = exc.message, exc.status
        else:
            http_session.clear()
            http_session.permanent = True
            login_user(admin)
            http_session["seen"] = datetime.now(UTC).timestamp()
            return redirect(_safe_next(request.args.get("next")))
    return render("login.html", status, error=error)


@portal.post("/logout")
def logout():
    logout_user()
    http_session.clear()
    flash("You are signed out.")
    return redirect(url_for("portal.login"))


def _send_link(admin: Admin, purpose: str) -> None:
    """Queue the mail with a set-password link; sent after the caller's commit."""
    secret = accounts.issue_link(session, admin, purpose)
    group_id = uuid.UUID(admin.org_path.strip("/").split("/")[0])
    brand = brand_of(session.get(Organization, group_id))
    link = url_for("portal.set_password", secret=secret, _external=True)
    if purpose == "invite":
        subject = f"Your {brand.product_name} administrator account"
        body = (
            f"Hello {admin.name},\n\nAn administrator account was created for you on "
            f"{brand.product_name}. Choose your password here (valid for 7 days):\n\n{link}\n"
        )
    else:
        subject = f"Reset your {brand.product_name} password"
        body = (
            f"Hello {admin.name},\n\nSomeone asked to reset your password. If it was you, "
            f"choose a new one here (valid for 1 hour):\n\n{link}\n\n"
            "If it was not you, ignore this message.\n"
        )
    queue_mail(admin.email, subject, body, sender=sender_for(brand))


@portal.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    if request.method == "POST":
        email = request.form.get("email", "").strip().lower()
        admin = session.scalar(select(Admin).where(Admin.email == email)) if email else None
        brand = current_brand()
        if (
            admin is not None
            and admin.active
            and (not brand.group_path or admin.org_path.startswith(brand.group_path))
        ):
            _send_link(admin, "reset")
            session.commit()
        # The same answer whether or not the address is known.
        flash("If the address belongs to an administrator, a reset link is on its way.")
        return redirect(url_for("portal.login"))
    return render("forgot.html")


@portal.route("/set-password/<secret>", methods=["GET", "POST"])
def set_password(secret: str):
    link = accounts.find_link(session, secret)
    if link is None:
        return render(
            "error.html",
            404,
            title="This link no longer works",
            message="It was used already or has expired. Ask for a new one.",
        )
    admin = session.get(Admin, link.admin_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            errors = {"confirm": ["The two passwords differ."]}
        else:
            try:
                link.used_at = datetime.now(UTC)
                with acting_as(iam.actor_for(admin, "portal", g.get("request_id"))):
                    iam.set_password(session, admin, password)
            except FusionError as exc:
                session.rollback()
                errors = field_errors(exc)
            else:
                flash("Your password is set; sign in with it.")
                return redirect(url_for("portal.login"))
    return render("set_password.html", 422 if errors else 200, admin=admin, errors=errors)


# --- shell: home, sidebar, search -----------------------------------------------------------


@portal.get("/home")
@login_required
def home():
    return redirect(url_for("portal.org_page", org_id=current_user.organization_id))


@portal.get("/orgs/<id:org_id>/children")
@login_required
def children(org_id):
    """A sidebar fragment (htmx): one page of an organisation's children.

    Without JavaScript the sidebar's "More…" is a plain link: the browser is sent to the
    organisation's own page, on the page of its list that holds the first of those children
    (both are sorted by name), instead of a bare fragment."""
    org = load(Organization, org_id)
    page = max(request.args.get("page", 1, type=int), 1)
    if request.headers.get("HX-Request") != "true":
        from webui.sections import PER_PAGE  # sections imports this module

        first = (page - 1) * SIDEBAR_PAGE
        return redirect(url_for("portal.org_page", org_id=org.id, page=first // PER_PAGE + 1))
    rows, more = sidebar_children(org.id, page)
    return render_template("partials/tree.html", parent=org, rows=rows, more=more, page=page)


@portal.get("/search")
@login_required
def search():
    query = request.args.get("q", "").strip()
    groups: dict[str, list[Any]] = {}
    if query:
        for result in flatten(hook().global_search(actor=current_actor(), query=query, limit=20)):
            groups.setdefault(result.kind, []).append(result)
    crumbs = [*breadcrumbs(current_user.organization), ("Search", "")]
    return render("search.html", query=query, groups=groups, crumbs=crumbs)


# --- settings: branding ---------------------------------------------------------------------

BRANDING_FIELDS = (
    "product_name",
    "logo_url",
    "favicon_url",
    "primary_color",
    "accent_color",
    "support_email",
    "support_phone",
    "support_url",
    "mail_sender",
)


@portal.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    actor = current_actor()
    if not actor.is_group:
        raise NotFound("No settings here.")
    group = load(Organization, actor.organization_id)
    branding = dict(group.branding or {})
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        for name in BRANDING_FIELDS:
            branding[name] = form_value(name)
        hostnames = request.form.get("hostnames", "").replace(",", "\n").split()
        branding["hostnames"] = [h.strip().lower() for h in hostnames if h.strip()]
        branding = {k: v for k, v in branding.items() if v not in (None, [])}
        try:
            hierarchy.update_organization(session, group, {"branding": branding})
        except FusionError as exc:
            session.rollback()
            errors = field_errors(exc)
        else:
            flash("Branding saved.")
            return redirect(url_for("portal.settings"))
    return render(
        "settings.html",
        422 if errors else 200,
        group=group,
        branding=branding,
        preview=brand_of(group, branding),
        errors=errors,
        crumbs=[*breadcrumbs(current_user.organization), ("Settings", "")],
    )


NPM_CDN = "https://cdn.jsdelivr.net/npm/"  # serves the npm registry's packages as published


@functools.cache
def _npm_ranges() -> dict[str, str]:
    """package.json's dependencies: package name -> version range."""
    try:
        manifest = json.loads((NODE_MODULES.parent / "package.json").read_text())
    except (OSError, ValueError):
        return {}
    return dict(manifest.get("dependencies", {}))


@portal.get("/vendor/<path:filename>")
def vendor(filename: str):
    """Serve installed npm packages (swagger-ui-dist for /api/docs, the portal's assets).

    A package of package.json that npm did not install (a machine without Node.js) is
    redirected to the same file of the same version range on jsDelivr, which serves the npm
    registry's packages: /api/docs and the portal's styles still work, nothing is vendored."""
    if (NODE_MODULES / filename).is_file():
        return send_from_directory(
            NODE_MODULES, filename, max_age=current_app.get_send_file_max_age(filename)
        )
    parts = filename.split("/")
    name = "/".join(parts[:2]) if parts[0].startswith("@") else parts[0]
    rest = filename[len(name) + 1 :]
    version = _npm_ranges().get(name)
    if version is None or not rest or ".." in parts:
        abort(404)
    return redirect(f"{NPM_CDN}{name}@{version}/{rest}")


from webui import sections  # noqa: E402, F401 - the section pages register on `portal`
