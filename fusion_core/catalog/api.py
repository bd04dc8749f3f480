"""/api/v1/skus, /products, /orders, /subscriptions/{id}/entitlements, /reports/licenses."""

from __future__ import annotations

import functools
import re

from flask import Response, jsonify, request, send_file, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from fusion_core.api.errors import ErrorSchema
from fusion_core.api.http import check_if_match, with_etag
from fusion_core.api.lists import page_schema, paginate
from fusion_core.catalog import ledger, reports, services
from fusion_core.catalog.models import Entitlement, Order, Product, Sku
from fusion_core.catalog.schemas import (
    EntitlementArgs,
    EntitlementSchema,
    LicenseReportArgs,
    OrderListArgs,
    OrderPostArgs,
    OrderSchema,
    ProductListArgs,
    ProductSchema,
    ProductUpdateSchema,
    SkuListArgs,
    SkuSchema,
    SkuUpdateSchema,
)
from fusion_core.context import current_actor
from fusion_core.db import session
from fusion_core.errors import ValidationFailed
from fusion_core.hierarchy.models import Subscription
from fusion_core.scope import load, scoped

KEY_RE = re.compile(r"^[\x21-\x7e]{1,100}$")
IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "schema": {"type": "string", "maxLength": 100},
            "description": "A retry with the same key and body returns the first result and "
            "creates nothing; the same key with another body is refused (422).",
        }
    ]
}

skus = Blueprint("skus", __name__, url_prefix="/skus", description="The group's SKUs.")
products = Blueprint("products", __name__, url_prefix="/products", description="Products.")
orders = Blueprint("orders", __name__, url_prefix="/orders", description="Orders (group only).")
entitlements = Blueprint(
    "entitlements",
    __name__,
    url_prefix="/subscriptions",
    description="The entitlement ledger of a subscription.",
)
reports_blp = Blueprint(
    "license_reports", __name__, url_prefix="/reports", description="Licence usage reports."
)


# --- SKUs --------------------------------------------------------------------------------------


@skus.route("")
class SkuCollection(MethodView):
    @skus.arguments(SkuListArgs, location="query")
    @skus.response(200, page_schema(SkuSchema))
    def get(self, args):
        """Your group's SKUs (every administrator of the group reads them)."""
        stmt = services.catalog_scoped(select(Sku), Sku)
        for key in ("kind", "active", "key"):
            if key in args:
                stmt = stmt.where(getattr(Sku, key) == args[key])
        return paginate(
            stmt,
            args,
            sortable={"name": Sku.name, "created_at": Sku.created_at, "kind": Sku.kind},
            default_sort="name",
            search=[Sku.name, Sku.external_reference, Sku.key],
            tiebreak=Sku.id,
        )

    @skus.arguments(SkuSchema)
    @skus.response(201, SkuSchema)
    @skus.alt_response(403, schema=ErrorSchema)
    @skus.alt_response(409, schema=ErrorSchema)
    @skus.alt_response(422, schema=ErrorSchema)
    def post(self, data):
        """Create a SKU (group administrators)."""
        return with_etag(services.create_sku(session, data), 201)


@skus.route("/<id:id>")
class SkuItem(MethodView):
    @skus.response(200, SkuSchema)
    @skus.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """Get one SKU."""
        return with_etag(services.load_catalog(Sku, id))

    @skus.arguments(SkuUpdateSchema)
    @skus.response(200, SkuSchema)
    @skus.alt_response(412, schema=ErrorSchema)
    def patch(self, data, id):
        """Rename, re-reference or (de)activate a SKU; what it is stays fixed."""
        sku = services.load_catalog(Sku, id)
        check_if_match(sku)
        return with_etag(services.update_sku(session, sku, data))


# --- products ----------------------------------------------------------------------------------


@products.route("")
class ProductCollection(MethodView):
    @products.arguments(ProductListArgs, location="query")
    @products.response(200, page_schema(ProductSchema))
    def get(self, args):
        """Your group's products."""
        stmt = services.catalog_scoped(select(Product), Product)
        if "active" in args:
            stmt = stmt.where(Product.active == args["active"])
        return paginate(
            stmt,
            args,
            sortable={"name": Product.name, "created_at": Product.created_at},
            default_sort="name",
            search=[Product.name, Product.description],
            tiebreak=Product.id,
        )

    @products.arguments(ProductSchema)
    @products.response(201, ProductSchema)
    @products.alt_response(403, schema=ErrorSchema)
    @products.alt_response(422, schema=ErrorSchema)
    def post(self, data):
        """Create a product: SKUs with quantities, optional prices and markups."""
        return with_etag(services.create_product(session, data), 201)


@products.route("/<id:id>")
class ProductItem(MethodView):
    @products.response(200, ProductSchema)
    @products.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """Get one product."""
        return with_etag(services.load_catalog(Product, id))

    @products.arguments(ProductUpdateSchema)
    @products.response(200, ProductSchema)
    @products.alt_response(412, schema=ErrorSchema)
    def patch(self, data, id):
        """Change a product; `lines` replaces all its lines. Past orders keep their effect."""
        product = services.load_catalog(Product, id)
        check_if_match(product)
        return with_etag(services.update_product(session, product, data))

    @products.response(204)
    @products.alt_response(409, schema=ErrorSchema)
    def delete(self, id):
        """Delete a product; refused (409, listing them) while orders reference it."""
        product = services.load_catalog(Product, id)
        check_if_match(product)
        services.delete_product(session, product)


# --- orders ------------------------------------------------------------------------------------


def _rejected(order: Order):
    rejection = dict(order.rejection or {})
    error = services.OrderRejected(
        rejection.pop("message", order.reason or "The order was rejected."),
        errors=rejection.pop("errors", None),
        order_id=str(order.id),
        **{k: v for k, v in rejection.items() if k != "code"},
    )
    return error


@orders.route("")
class OrderCollection(MethodView):
    @orders.arguments(OrderListArgs, location="query")
    @orders.response(200, page_schema(OrderSchema))
    def get(self, args):
        """Orders in your scope: filter, search (BSS reference), sort, paginate; `format`
        (csv, json, xlsx) exports every matching order instead of one page, streamed."""
        stmt = scoped(select(Order), Order)
        for key in ("type", "state", "tenant_id", "subscription_id", "bss_reference"):
            if key in args:
                stmt = stmt.where(getattr(Order, key) == args[key])
        if "format" in args:
            return _export(
                reports.order_rows(session, stmt, args.get("q")),
                args["format"],
                "orders",
                reports.ORDER_COLUMNS,
            )
        return paginate(
            stmt,
            args,
            sortable={"created_at": Order.created_at, "state": Order.state},
            default_sort="-created_at",
            search=[Order.bss_reference, Order.reason],
            tiebreak=Order.id,
        )

    @orders.arguments(OrderSchema)
    @orders.arguments(OrderPostArgs, location="query")
    @orders.response(201, OrderSchema)
    @orders.alt_response(403, schema=ErrorSchema)
    @orders.alt_response(409, schema=ErrorSchema, description="Rejected; the order is kept")
    @orders.alt_response(422, schema=ErrorSchema)
    @orders.doc(**IDEMPOTENCY_DOC)
    def post(self, data, args):
        """Place an order (group administrators); it is fulfilled in one transaction.
        `dry_run=true` answers 200 with the per-SKU effect it would have and writes nothing."""
        if args["dry_run"]:
            return jsonify(services.preview_order(session, data))
        key = request.headers.get("Idempotency-Key")
        if key is not None and not KEY_RE.match(key):
            raise ValidationFailed(
                "Invalid Idempotency-Key header.",
                errors={"Idempotency-Key": ["1 to 100 visible ASCII characters."]},
                location="header",
            )
        order, replayed = services.place_order(session, data, key)
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        if order.state == "rejected":
            error = _rejected(order)
            error.headers = headers
            raise error
        return order, 201, headers


@orders.route("/<id:id>")
class OrderItem(MethodView):
    @orders.response(200, OrderSchema)
    @orders.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """Get one order, with what it changed (`effect`)."""
        return load(Order, id)


# --- entitlements ------------------------------------------------------------------------------


@entitlements.route("/<id:id>/entitlements")
class SubscriptionEntitlements(MethodView):
    @entitlements.arguments(EntitlementArgs, location="query")
    @entitlements.response(200, EntitlementSchema(many=True))
    @entitlements.alt_response(404, schema=ErrorSchema)
    def get(self, args, id):
        """Ordered, consumed and available per SKU; `holders=1` adds who holds the units."""
        sub = load(Subscription, id)
        rows = list(
            session.scalars(
                select(Entitlement)
                .join(Sku, Sku.id == Entitlement.sku_id)
                .where(Entitlement.subscription_id == sub.id)
                .order_by(Sku.name, Sku.id)
            )
        )
        if args["holders"]:
            by_entitlement: dict = {}
            for hold in ledger.holds_of(session, [e.id for e in rows]):
                by_entitlement.setdefault(hold.entitlement_id, []).append(hold)
            for ent in rows:
                ent.holders = by_entitlement.get(ent.id, [])
        return rows


# --- reports -----------------------------------------------------------------------------------

MIME = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@reports_blp.route("/licenses")
class LicenseReport(MethodView):
    @reports_blp.arguments(LicenseReportArgs, location="query")
    @reports_blp.response(200, description="A JSON list, a CSV or an XLSX file (`format`)")
    def get(self, args):
        """Licence usage in your subtree, per tenant or rolled up (`group_by`), streamed."""
        actor = current_actor()
        fmt, group_by = args["format"], args["group_by"]
        if args["view"] == "products":
            rows = reports.product_rows(
                session, actor, group_by, args.get("as_of"), args.get("tier")
            )
            return _export(rows, fmt, f"products-by-{group_by}", reports.PRODUCT_COLUMNS)
        rows = reports.license_rows(session, actor, group_by)
        return _export(rows, fmt, f"licenses-by-{group_by}", reports.COLUMNS)


def _export(rows, fmt: str, stem: str, columns):
    """Stream `rows` as a JSON list or CSV, or send them as an XLSX file."""
    name = f"{stem}.{fmt}"
    if fmt == "xlsx":
        return send_file(
            reports.as_xlsx(rows, columns),
            mimetype=MIME[fmt],
            as_attachment=True,
            download_name=name,
        )
    writer = (
        reports.as_json if fmt == "json" else functools.partial(reports.as_csv, columns=columns)
    )
    response = Response(stream_with_context(writer(rows)), mimetype=MIME[fmt])
    if fmt == "csv":
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


BLUEPRINTS = [skus, products, orders, entitlements, reports_blp]
