"""Portal pages. Session login (Flask-Login); the core's services do all the work."""

from __future__ import annotations

from pathlib import Path

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
from flask_login import LoginManager, current_user, login_required, login_user, logout_user

from fusion_core.api.http import act_as
from fusion_core.db import get_db
from fusion_core.errors import TooManyRequests, Unauthorized
from fusion_core.iam.models import Admin
from fusion_core.iam.services import actor_for, authenticate

portal = Blueprint("portal", __name__, template_folder="templates")
login_manager = LoginManager()
login_manager.login_view = "portal.login"
login_manager.session_protection = "strong"

# Front-end packages are installed from npm by `make run` (see package.json), never vendored.
NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"


@portal.record_once
def _setup(state) -> None:
    login_manager.init_app(state.app)


@login_manager.user_loader
def _load_admin(admin_id: str) -> Admin | None:
    import uuid

    try:
        admin = get_db().session.get(Admin, uuid.UUID(admin_id))
    except ValueError:
        return None
    return admin if admin is not None and admin.active else None


@portal.before_app_request
def _portal_actor() -> None:
    if request.path.startswith("/api/"):
        return
    if current_user.is_authenticated:
        act_as(actor_for(current_user, "portal", g.get("request_id")))


@portal.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("portal.home"))
    return redirect(url_for("portal.login"))


@portal.route("/login", methods=["GET", "POST"])
def login():
    error = None
    status = 200
    if request.method == "POST":
        try:
            admin = authenticate(
                get_db().session,
                request.form.get("email", ""),
                request.form.get("password", ""),
                request.remote_addr,
            )
        except (Unauthorized, TooManyRequests) as exc:
            error, status = exc.message, exc.status
        else:
            login_user(admin)
            return redirect(url_for("portal.home"))
    return render_template("login.html", error=error), status


@portal.post("/logout")
@login_required
def logout():
    logout_user()
    flash("You are signed out.")
    return redirect(url_for("portal.login"))


@portal.get("/home")
@login_required
def home():
    return render_template("home.html", admin=current_user)


@portal.get("/vendor/<path:filename>")
def vendor(filename: str):
    """Serve installed npm packages (swagger-ui-dist for /api/docs, the portal's assets)."""
    if not NODE_MODULES.is_dir():
        abort(404)
    return send_from_directory(
        NODE_MODULES, filename, max_age=current_app.get_send_file_max_age(filename)
    )
