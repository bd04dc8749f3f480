"""/api/v1/distributors, /resellers, /tenants, /tenants/{id}/subscriptions, /subscriptions."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from fusion_core.api.errors import ErrorSchema
from fusion_core.api.http import check_if_match, with_etag
from fusion_core.api.lists import page_schema, paginate
from fusion_core.db import session
from fusion_core.errors import NotFound
from fusion_core.hierarchy import services
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.hierarchy.schemas import (
    OrganizationListArgs,
    OrganizationSchema,
    OrganizationUpdateSchema,
    SubscriptionListArgs,
    SubscriptionSchema,
    SubscriptionUpdateSchema,
)
from fusion_core.scope import load, scoped, subtree

ORG_SORT = {
    "name": Organization.name,
    "created_at": Organization.created_at,
    "status": Organization.status,
}
SUB_SORT = {
    "name": Subscription.name,
    "created_at": Subscription.created_at,
    "platform": Subscription.platform,
}
# Query-argument schemas as instances: given a class, webargs builds (deep-copies) a new schema
# on every request, ~4% of a list page's CPU. Loading keeps no state on the instance.
ORG_LIST_ARGS = OrganizationListArgs()
SUB_LIST_ARGS = SubscriptionListArgs()


def load_kind(kind: str, ident) -> Organization:
    org = load(Organization, ident, what=kind)
    if org.kind != kind:
        raise NotFound(f"No {kind} with id {ident}.", errors={"id": ["Not found."]})
    return org


def organization_blueprint(kind: str, plural: str) -> Blueprint:
    blp = Blueprint(plural, __name__, url_prefix=f"/{plural}", description=f"{plural.title()}.")

    @blp.route("")
    class Collection(MethodView):
        @blp.arguments(ORG_LIST_ARGS, location="query")
        @blp.response(200, page_schema(OrganizationSchema))
        def get(self, args):
            """List them in your scope: filter, search (`q`), sort, paginate."""
            stmt = scoped(select(Organization).where(Organization.kind == kind), Organization)
            if "parent_id" in args:
                stmt = stmt.where(Organization.parent_id == args["parent_id"])
            if "within" in args:
                within = load(Organization, args["within"], field="within")
                stmt = stmt.where(subtree(Organization.org_path, within.org_path))
            if "status" in args:
                stmt = stmt.where(Organization.status == args["status"])
            if "external_billing_id" in args:
                stmt = stmt.where(Organization.external_billing_id == args["external_billing_id"])
            return paginate(
                stmt,
                args,
                sortable=ORG_SORT,
                default_sort="name",
                search=[Organization.name, Organization.external_billing_id],
                tiebreak=Organization.id,
            )

        @blp.arguments(OrganizationSchema)
        @blp.response(201, OrganizationSchema)
        @blp.alt_response(422, schema=ErrorSchema)
        def post(self, data):
            """Create one under `parent_id` (parent rules: DESIGN.md §4)."""
            org = services.create_organization(session, kind, **data)
            return with_etag(org, 201)

    @blp.route("/<id:id>")
    class Item(MethodView):
        @blp.response(200, OrganizationSchema)
        @blp.alt_response(404, schema=ErrorSchema)
        def get(self, id):
            """Get one; the ETag header carries its version."""
            return with_etag(load_kind(kind, id))

        @blp.arguments(OrganizationUpdateSchema)
        @blp.response(200, OrganizationSchema)
        @blp.alt_response(412, schema=ErrorSchema)
        def patch(self, data, id):
            """Change name, billing id or status; send If-Match to avoid lost updates."""
            org = load_kind(kind, id)
            check_if_match(org)
            return with_etag(services.update_organization(session, org, data))

        @blp.response(204)
        @blp.alt_response(409, schema=ErrorSchema)
        def delete(self, id):
            """Delete; refused with the reasons while children or live subscriptions exist."""
            org = load_kind(kind, id)
            check_if_match(org)
            services.delete_organization(session, org)

    return blp


distributors = organization_blueprint("distributor", "distributors")
resellers = organization_blueprint("reseller", "resellers")
tenants = organization_blueprint("tenant", "tenants")


@tenants.route("/<id:id>/subscriptions")
class TenantSubscriptions(MethodView):
    @tenants.arguments(SUB_LIST_ARGS, location="query")
    @tenants.response(200, page_schema(SubscriptionSchema))
    def get(self, args, id):
        """List a tenant's subscriptions."""
        tenant = load_kind("tenant", id)
        return _list_subscriptions(
            select(Subscription).where(Subscription.tenant_id == tenant.id), args
        )

    @tenants.arguments(SubscriptionSchema)
    @tenants.response(201, SubscriptionSchema)
    @tenants.alt_response(422, schema=ErrorSchema)
    def post(self, data, id):
        """Add a subscription of a registered platform to a tenant."""
        tenant = load_kind("tenant", id)
        return with_etag(services.create_subscription(session, tenant, **data), 201)


def _list_subscriptions(stmt, args):
    stmt = scoped(stmt, Subscription)
    for key in ("platform", "status", "tenant_id"):
        if key in args:
            stmt = stmt.where(getattr(Subscription, key) == args[key])
    return paginate(
        stmt,
        args,
        sortable=SUB_SORT,
        default_sort="name",
        search=[Subscription.name, Subscription.billing_id],
        tiebreak=Subscription.id,
    )


subscriptions = Blueprint(
    "subscriptions", __name__, url_prefix="/subscriptions", description="Subscriptions."
)


@subscriptions.route("")
class SubscriptionCollection(MethodView):
    @subscriptions.arguments(SUB_LIST_ARGS, location="query")
    @subscriptions.response(200, page_schema(SubscriptionSchema))
    def get(self, args):
        """List subscriptions in your scope."""
        return _list_subscriptions(select(Subscription), args)


@subscriptions.route("/<id:id>")
class SubscriptionItem(MethodView):
    @subscriptions.response(200, SubscriptionSchema)
    @subscriptions.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """Get one subscription."""
        return with_etag(load(Subscription, id))

    @subscriptions.arguments(SubscriptionUpdateSchema)
    @subscriptions.response(200, SubscriptionSchema)
    @subscriptions.alt_response(412, schema=ErrorSchema)
    def patch(self, data, id):
        """Rename, re-bill or change the status of a subscription."""
        sub = load(Subscription, id)
        check_if_match(sub)
        return with_etag(services.update_subscription(session, sub, data))

    @subscriptions.response(204)
    @subscriptions.alt_response(409, schema=ErrorSchema)
    def delete(self, id):
        """Delete a subscription (plugins may refuse while it holds resources)."""
        sub = load(Subscription, id)
        check_if_match(sub)
        services.delete_subscription(session, sub)


BLUEPRINTS = [distributors, resellers, tenants, subscriptions]
