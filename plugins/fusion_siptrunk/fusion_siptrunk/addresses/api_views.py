"""/api/v1/siptrunk/addresses: a tenant's emergency addresses and their validation."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from fusion_core.api.errors import ErrorSchema
from fusion_core.api.http import check_if_match, with_etag
from fusion_core.api.lists import page_schema, paginate
from fusion_core.db import session
from fusion_core.scope import load, scoped
from fusion_siptrunk.addresses import services
from fusion_siptrunk.addresses.models import Address
from fusion_siptrunk.addresses.schemas import AddressListArgs, AddressSchema, AddressUpdateSchema

SORT = {
    "label": Address.label,
    "country": Address.country,
    "status": Address.status,
    "created_at": Address.created_at,
}
LIST_ARGS = AddressListArgs()

api = Blueprint(
    "siptrunk_addresses_api",
    __name__,
    url_prefix="/siptrunk/addresses",
    description="SIP trunking: tenants' emergency/regulatory addresses.",
)


@api.route("")
class Addresses(MethodView):
    @api.arguments(LIST_ARGS, location="query")
    @api.response(200, page_schema(AddressSchema))
    def get(self, args):
        """List addresses in your scope: filter by tenant, status, country; search (`q`)."""
        stmt = scoped(select(Address), Address)
        for key in ("tenant_id", "status"):
            if key in args:
                stmt = stmt.where(getattr(Address, key) == args[key])
        if "country" in args:
            stmt = stmt.where(Address.country == args["country"].upper())
        return paginate(
            stmt,
            args,
            sortable=SORT,
            default_sort="label",
            search=[Address.label, Address.city, Address.postal_code, Address.company_name],
            tiebreak=Address.id,
        )

    @api.arguments(AddressSchema)
    @api.response(201, AddressSchema)
    @api.alt_response(422, schema=ErrorSchema)
    def post(self, data):
        """Create a tenant's address; it is validated at once (see `status`)."""
        tenant = services.tenant_for(data["tenant_id"])
        return with_etag(services.create_address(session, tenant, data), 201)


@api.route("/<id:id>")
class AddressItem(MethodView):
    @api.response(200, AddressSchema)
    @api.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """Get one; the ETag header carries its version."""
        return with_etag(load(Address, id))

    @api.arguments(AddressUpdateSchema)
    @api.response(200, AddressSchema)
    @api.alt_response(412, schema=ErrorSchema)
    def patch(self, data, id):
        """Change fields (send If-Match); changing the address revalidates it."""
        address = load(Address, id)
        check_if_match(address)
        return with_etag(services.update_address(session, address, data))

    @api.response(204)
    @api.alt_response(409, schema=ErrorSchema)
    def delete(self, id):
        """Delete; refused with the reasons while a trunk or number uses it."""
        address = load(Address, id)
        check_if_match(address)
        services.delete_address(session, address)


@api.route("/<id:id>/validate")
class AddressValidate(MethodView):
    @api.response(200, AddressSchema)
    @api.alt_response(404, schema=ErrorSchema)
    def post(self, id):
        """Validate again (offline rules, then the online validators) and store the verdict."""
        address = load(Address, id)
        return with_etag(services.validate_address(session, address))
