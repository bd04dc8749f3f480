"""/api/v1/auth/tokens, /api/v1/auth/me, /api/v1/admins."""

from __future__ import annotations

from datetime import timedelta

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from fusion_core.api.errors import ErrorSchema
from fusion_core.api.http import act_as, check_if_match, public, with_etag
from fusion_core.api.lists import page_schema, paginate
from fusion_core.context import current_actor
from fusion_core.db import session, utcnow
from fusion_core.errors import NotFound, ValidationFailed
from fusion_core.hierarchy.models import Organization
from fusion_core.iam import services
from fusion_core.iam.models import Admin, ApiToken
from fusion_core.iam.schemas import (
    AdminListArgs,
    AdminSchema,
    AdminUpdateSchema,
    MeSchema,
    NewTokenSchema,
    TokenRequestSchema,
    TokenSchema,
)
from fusion_core.scope import load, scoped

auth = Blueprint("auth", __name__, url_prefix="/auth", description="Tokens and identity.")


@auth.route("/tokens")
class Tokens(MethodView):
    @public
    @auth.doc(security=[])
    @auth.arguments(TokenRequestSchema)
    @auth.response(201, NewTokenSchema)
    @auth.alt_response(401, schema=ErrorSchema)
    @auth.alt_response(429, schema=ErrorSchema)
    def post(self, data):
        """Exchange email and password for an API token (shown once). Needs no token."""
        admin = services.authenticate(session, data["email"], data["password"], request.remote_addr)
        act_as(services.actor_for(admin, "api", g.request_id))  # the token is the admin's doing
        days = data.get("expires_in_days")
        expires = utcnow() + timedelta(days=days) if days else None
        token, secret = services.issue_token(session, admin, data["name"], expires)
        token.token = secret  # transient: dumped once in this response, never stored
        return token, 201

    @auth.response(200, TokenSchema(many=True))
    def get(self):
        """Your tokens (never their secrets)."""
        return session.scalars(
            select(ApiToken)
            .where(ApiToken.admin_id == current_actor().admin_id)
            .order_by(ApiToken.created_at.desc())
        ).all()


@auth.route("/tokens/<id:id>")
class TokenItem(MethodView):
    @auth.response(200, TokenSchema)
    @auth.alt_response(404, schema=ErrorSchema)
    def delete(self, id):
        """Revoke a token: yours, or (with the admin role) one of an administrator you manage."""
        token = load(ApiToken, id, what="token")
        return services.revoke_token(session, token)


@auth.route("/me")
class Me(MethodView):
    @auth.response(200, MeSchema)
    def get(self):
        """Who the token belongs to."""
        admin = session.get(Admin, current_actor().admin_id)
        return {
            "admin": admin,
            "organization_kind": admin.organization.kind,
            "organization_name": admin.organization.name,
        }


admins = Blueprint("admins", __name__, url_prefix="/admins", description="Administrators.")
ADMIN_SORT = {"email": Admin.email, "name": Admin.name, "created_at": Admin.created_at}


@admins.route("")
class AdminCollection(MethodView):
    @admins.arguments(AdminListArgs, location="query")
    @admins.response(200, page_schema(AdminSchema))
    def get(self, args):
        """Administrators of your organisation and every organisation below it."""
        stmt = scoped(select(Admin), Admin)
        if "organization_id" in args:
            stmt = stmt.where(Admin.organization_id == args["organization_id"])
        if "role" in args:
            stmt = stmt.where(Admin.role == args["role"])
        return paginate(
            stmt,
            args,
            sortable=ADMIN_SORT,
            default_sort="email",
            search=[Admin.email, Admin.name],
            tiebreak=Admin.id,
        )

    @admins.arguments(AdminSchema)
    @admins.response(201, AdminSchema)
    @admins.alt_response(409, schema=ErrorSchema)
    def post(self, data):
        """Add an administrator to an organisation in your scope."""
        try:
            org = load(Organization, data.pop("organization_id"))
        except NotFound:
            raise ValidationFailed(
                "The organisation does not exist or is outside your scope.",
                errors={"organization_id": ["No organization with this id in your scope."]},
            ) from None
        return with_etag(services.create_admin(session, org, **data), 201)


@admins.route("/<id:id>")
class AdminItem(MethodView):
    @admins.response(200, AdminSchema)
    @admins.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """Get one administrator."""
        return with_etag(load(Admin, id))

    @admins.arguments(AdminUpdateSchema)
    @admins.response(200, AdminSchema)
    def patch(self, data, id):
        """Change name, email, role, password, or deactivate (revokes the tokens)."""
        admin = load(Admin, id)
        check_if_match(admin)
        return with_etag(services.update_admin(session, admin, data))

    @admins.response(204)
    def delete(self, id):
        """Delete an administrator and their tokens."""
        admin = load(Admin, id)
        check_if_match(admin)
        services.delete_admin(session, admin)


BLUEPRINTS = [auth, admins]
