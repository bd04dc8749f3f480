"""Catalogue pages: products, SKUs, orders (with a preview), licences and the licence report.

Like the other sections: views load through the scope (out of scope answers 404), validate
with the API's schemas and call `fusion_core.catalog.services`, which own the rules, the
transactions and the audit. Only the group writes the catalogue and places orders.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from marshmallow import ValidationError
from sqlalchemy import select

from fusion_core.catalog import ledger, reports, services
from fusion_core.catalog.api import _export
from fusion_core.catalog.models import (
    MARKUP_TIERS,
    NUMBER_TYPES,
    ORDER_STATES,
    ORDER_TYPES,
    SKU_KINDS,
    Entitlement,
    Order,
    Product,
    Sku,
)
from fusion_core.catalog.schemas import (
    OrderSchema,
    ProductSchema,
    ProductUpdateSchema,
    SkuSchema,
)
from fusion_core.context import current_actor
from fusion_core.db import session
from fusion_core.errors import Conflict, FusionError, NotFound
from fusion_core.hierarchy.models import ALLOWED_PARENTS, Organization, Subscription
from fusion_core.scope import load, scoped
from webui.sections import names_of, platforms, run_list
from webui.views import breadcrumbs, field_errors, form_value, portal, render, validated

MAX_LINE_ROWS = 200
LINE_ROWS = 6  # empty rows offered for a product's SKUs or an order's products
MARKUP_ROWS = 3
REPORT_ROWS = 200  # rows shown on the report page; the exports hold them all


def flat_errors(exc: FusionError | ValidationError) -> dict[str, list[str]]:
    """Errors by dotted field name (`lines.0.quantity`), so each is shown beside its field."""
    messages = exc.messages if isinstance(exc, ValidationError) else exc.errors
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            out[prefix] = [str(v) for v in value] if isinstance(value, list) else [str(value)]

    walk("", messages or {})
    return out or field_errors(exc)


def _crumbs(*tail: tuple[str, str]) -> list[tuple[str, str]]:
    return [*breadcrumbs(current_user.organization), *tail]


def _require_group_page() -> None:
    """Orders are the group's: other levels get 404, as for a page that does not exist."""
    if not current_actor().is_group:
        raise NotFound("There is no page here.")


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _int_or_text(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


# --- SKUs ----------------------------------------------------------------------------------


@portal.get("/skus")
@login_required
def sku_list():
    stmt = services.catalog_scoped(select(Sku), Sku)
    listing = run_list(
        stmt,
        {"name": Sku.name, "kind": Sku.kind, "created_at": Sku.created_at},
        "name",
        [Sku.name, Sku.external_reference, Sku.key],
        Sku.id,
    )
    return render(
        "catalog/skus.html",
        listing=listing,
        can_write=current_actor().is_group and current_actor().can_write,
        crumbs=_crumbs(("SKUs", url_for("portal.sku_list"))),
    )


@portal.route("/skus/new", methods=["GET", "POST"])
@login_required
def sku_new():
    from flask import current_app

    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        kind = request.form.get("kind", "")
        fields = {
            "license": ("license_type",),
            "number": ("country", "number_type", "vanity_class"),
            "customer_license": ("code",),
        }.get(kind, ())
        try:
            data = validated(
                SkuSchema(),
                {
                    "kind": kind,
                    "name": request.form.get("name", ""),
                    "external_reference": request.form.get("external_reference", ""),
                    **{f: form_value(f) for f in fields},
                },
            )
            sku = services.create_sku(session, data)
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = flat_errors(exc)
        else:
            flash(f"SKU {sku.name} created.")
            return redirect(url_for("portal.sku_list"))
    return render(
        "catalog/sku_form.html",
        422 if errors else 200,
        errors=errors,
        kinds=SKU_KINDS,
        license_types=sorted(current_app.extensions["fusion"].registry.sku_kinds.items()),
        number_types=NUMBER_TYPES,
        crumbs=_crumbs(("SKUs", url_for("portal.sku_list")), ("New", "")),
    )


# --- products ------------------------------------------------------------------------------


@portal.get("/products")
@login_required
def product_list():
    stmt = services.catalog_scoped(select(Product), Product)
    state = request.args.get("active", "")
    if state in ("yes", "no"):
        stmt = stmt.where(Product.active == (state == "yes"))
    listing = run_list(
        stmt,
        {"name": Product.name, "created_at": Product.created_at},
        "name",
        [Product.name, Product.description],
        Product.id,
    )
    actor = current_actor()
    return render(
        "catalog/products.html",
        listing=listing,
        active=state,
        can_write=actor.is_group and actor.can_write,
        crumbs=_crumbs(("Products", url_for("portal.product_list"))),
    )


def _sku_choices() -> list[Sku]:
    return list(
        session.scalars(
            services.catalog_scoped(select(Sku), Sku)
            .where(Sku.active.is_(True))
            .order_by(Sku.name)
            .limit(500)
        )
    )


def _rows() -> int:
    """How many SKU rows the form posted (its hidden `rows` field), bounded: a tampered value
    is read as the default rather than answering 500 or looping for ever."""
    raw = request.form.get("rows", "")
    return min(int(raw), MAX_LINE_ROWS) if raw.isdigit() else LINE_ROWS


def _product_form() -> dict[str, Any]:
    """The product form's fields, as the API's schema takes them."""
    lines = []
    for i in range(_rows()):
        sku_id = request.form.get(f"lines-{i}-sku_id", "")
        quantity = request.form.get(f"lines-{i}-quantity", "").strip()
        if sku_id or quantity:
            lines.append({"sku_id": sku_id, "quantity": _int_or_text(quantity or "1")})
    markups = []
    for i in range(MARKUP_ROWS):
        row = {k: form_value(f"markups-{i}-{k}") for k in ("tier", "percent", "starts_on")}
        if any(row.values()):
            markups.append({k: v or "" for k, v in row.items()})
    return {
        "name": request.form.get("name", ""),
        "description": form_value("description"),
        "lines": lines,
        "setup_price": form_value("setup_price"),
        "monthly_price": form_value("monthly_price"),
        "currency": form_value("currency"),
        "markups": markups,
    }


def _render_product_form(product: Product | None, errors, status: int = 200):
    if request.method == "POST":
        form = _product_form()
    elif product is not None:
        form = {
            "name": product.name,
            "description": product.description,
            "lines": [{"sku_id": str(li.sku_id), "quantity": li.quantity} for li in product.lines],
            "setup_price": product.setup_price,
            "monthly_price": product.monthly_price,
            "currency": product.currency,
            "markups": product.markups or [],
        }
    else:
        form = {"lines": [], "markups": []}
    rows = max(LINE_ROWS, len(form["lines"]) + 2)
    return render(
        "catalog/product_form.html",
        status,
        product=product,
        form=form,
        rows=rows,
        markup_rows=MARKUP_ROWS,
        tiers=MARKUP_TIERS,
        skus=_sku_choices(),
        errors=errors,
        crumbs=_crumbs(
            ("Products", url_for("portal.product_list")),
            (product.name if product else "New", ""),
        ),
    )


@portal.route("/products/new", methods=["GET", "POST"])
@login_required
def product_new():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            data = validated(ProductSchema(), _product_form())
            product = services.create_product(session, data)
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = flat_errors(exc)
        else:
            flash(f"Product {product.name} created.")
            return redirect(url_for("portal.product_page", product_id=product.id))
    return _render_product_form(None, errors, 422 if errors else 200)


@portal.get("/products/<id:product_id>")
@login_required
def product_page(product_id):
    product = services.load_catalog(Product, product_id)
    actor = current_actor()
    return render(
        "catalog/product.html",
        product=product,
        orders=services.count_orders_for_product(session, product.id),
        can_write=actor.is_group and actor.can_write,
        crumbs=_crumbs(("Products", url_for("portal.product_list")), (product.name, "")),
    )


@portal.route("/products/<id:product_id>/edit", methods=["GET", "POST"])
@login_required
def product_edit(product_id):
    product = services.load_catalog(Product, product_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            changes = validated(ProductUpdateSchema(), _product_form())
            for key in ("description", "setup_price", "monthly_price", "currency"):
                changes.setdefault(key, None)  # an emptied field clears it
            changes.setdefault("markups", None)
            services.update_product(session, product, changes)
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = flat_errors(exc)
        else:
            flash(f"Product {product.name} saved.")
            return redirect(url_for("portal.product_page", product_id=product.id))
    return _render_product_form(product, errors, 422 if errors else 200)


@portal.post("/products/<id:product_id>/active")
@login_required
def product_active(product_id):
    product = services.load_catalog(Product, product_id)
    active = request.form.get("active") == "yes"
    services.update_product(session, product, {"active": active})
    flash(f"Product {product.name} {'activated' if active else 'deactivated'}.")
    return redirect(url_for("portal.product_page", product_id=product.id))


@portal.route("/products/<id:product_id>/delete", methods=["GET", "POST"])
@login_required
def product_delete(product_id):
    product = services.load_catalog(Product, product_id)
    blockers: list[str] = []
    if request.method == "POST":
        name = product.name
        try:
            services.delete_product(session, product)
        except Conflict as exc:
            session.rollback()
            blockers = [exc.message, *exc.errors.get("id", [])]
        else:
            flash(f"Product {name} deleted.")
            return redirect(url_for("portal.product_list"))
    else:
        count = services.count_orders_for_product(session, product.id)
        if count:
            blockers = [f"{count} order line(s) reference it; deactivate it instead."]
    return render(
        "confirm_delete.html",
        409 if blockers and request.method == "POST" else 200,
        what=f"product {product.name}",
        blockers=blockers,
        back=url_for("portal.product_page", product_id=product.id),
        crumbs=_crumbs(("Products", url_for("portal.product_list")), (product.name, "")),
    )


# --- orders --------------------------------------------------------------------------------


@portal.get("/orders")
@login_required
def order_list():
    _require_group_page()
    stmt = scoped(select(Order), Order)
    state = request.args.get("state", "")
    if state in ORDER_STATES:
        stmt = stmt.where(Order.state == state)
    tenant_id = _uuid_or_none(request.args.get("tenant"))
    tenant = load(Organization, tenant_id) if tenant_id else None
    if tenant is not None:
        stmt = stmt.where(Order.tenant_id == tenant.id)
    listing = run_list(
        stmt,
        {"created_at": Order.created_at, "state": Order.state},
        "-created_at",
        [Order.bss_reference, Order.reason],
        Order.id,
    )
    filters = {"state": state, "tenant": str(tenant.id) if tenant else ""}
    return render(
        "catalog/orders.html",
        listing=listing,
        filters=filters,
        tenant=tenant,
        states=ORDER_STATES,
        tenants=names_of(o.tenant_id for o in listing["rows"]),
        export={k: v for k, v in {**filters, "q": listing["q"]}.items() if v},
        crumbs=_crumbs(("Orders", url_for("portal.order_list"))),
    )


@portal.get("/orders/export")
@login_required
def order_export():
    _require_group_page()
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "json", "xlsx"):
        raise NotFound("No such format.")
    stmt = scoped(select(Order), Order)
    if request.args.get("state") in ORDER_STATES:
        stmt = stmt.where(Order.state == request.args["state"])
    tenant_id = _uuid_or_none(request.args.get("tenant"))
    if tenant_id:
        stmt = stmt.where(Order.tenant_id == load(Organization, tenant_id).id)
    rows = reports.order_rows(session, stmt, request.args.get("q", "").strip() or None)
    return _export(rows, fmt, "orders", reports.ORDER_COLUMNS)


@portal.get("/orders/<id:order_id>")
@login_required
def order_page(order_id):
    _require_group_page()
    order = load(Order, order_id)
    return render(
        "catalog/order.html",
        order=order,
        names=names_of([order.tenant_id]),
        sub=session.get(Subscription, order.subscription_id) if order.subscription_id else None,
        crumbs=_crumbs(("Orders", url_for("portal.order_list")), (f"Order {order.id}", "")),
    )


def _order_form() -> dict[str, Any]:
    """The order form's fields, as the API's schema takes them (only the type's own)."""
    kind = request.form.get("type", "")
    lines = []
    for i in range(LINE_ROWS):
        product_id = request.form.get(f"lines-{i}-product_id", "")
        quantity = request.form.get(f"lines-{i}-quantity", "").strip()
        if product_id or quantity:
            lines.append({"product_id": product_id, "quantity": _int_or_text(quantity or "1")})
    data: dict[str, Any] = {
        "type": kind,
        "bss_reference": form_value("bss_reference"),
        "lines": lines,
    }
    new_subscription = {
        "platform": request.form.get("platform", ""),
        "name": request.form.get("subscription_name", ""),
        "billing_id": form_value("billing_id"),
    }
    if kind == "change":
        data["subscription_id"] = request.form.get("subscription_id", "")
    elif kind == "new_subscription":
        data["tenant_id"] = request.form.get("tenant_id", "")
        data["subscription"] = {k: v for k, v in new_subscription.items() if v is not None}
    elif kind == "new_tenant":
        data["tenant"] = {
            "parent_id": request.form.get("parent_id", ""),
            "name": request.form.get("tenant_name", ""),
        }
        data["subscription"] = {k: v for k, v in new_subscription.items() if v is not None}
    return data


# Where the schema's nested errors are shown on the form.
FORM_FIELD = {"tenant.parent_id": "parent_id", "tenant.name": "tenant_name"}
FORM_FIELD.update({f"subscription.{k}": k for k in ("platform", "billing_id")})
FORM_FIELD["subscription.name"] = "subscription_name"


def _form_errors(exc) -> dict[str, list[str]]:
    return {FORM_FIELD.get(k, k): v for k, v in flat_errors(exc).items()}


@portal.route("/orders/new", methods=["GET", "POST"])
@login_required
def order_new():
    _require_group_page()
    errors: dict[str, list[str]] = {}
    preview = rejected = None
    status = 200
    if request.method == "POST":
        try:
            data = validated(OrderSchema(), _order_form())
            if request.form.get("action") == "preview":
                preview = services.preview_order(session, data)
                session.rollback()  # nothing was written; end the read transaction
            else:
                key = request.form.get("idempotency_key") or None
                order, _replayed = services.place_order(session, data, key)
                if order.state == "completed":
                    flash(f"Order {order.id} completed.")
                    return redirect(url_for("portal.order_page", order_id=order.id))
                rejected = order
                status = 409
        except (FusionError, ValidationError) as exc:
            session.rollback()
            errors = _form_errors(exc)
            status = getattr(exc, "status", 422)
    defaults = {
        "type": request.values.get("type", "change"),
        "subscription_id": request.values.get("subscription_id", ""),
        "tenant_id": request.values.get("tenant_id", ""),
    }
    return render(
        "catalog/order_form.html",
        status,
        errors=errors,
        preview=preview,
        rejected=rejected,
        defaults=defaults,
        types=ORDER_TYPES,
        rows=LINE_ROWS,
        # A fresh key per form: a double submit places one order (the retry replays it).
        idempotency_key=(request.form.get("idempotency_key") if rejected is None else None)
        or uuid.uuid4().hex,
        products=list(
            session.scalars(
                services.catalog_scoped(select(Product), Product)
                .where(Product.active.is_(True))
                .order_by(Product.name)
                .limit(500)
            )
        ),
        subscriptions=session.execute(
            scoped(
                select(Subscription.id, Subscription.name, Organization.name.label("tenant"))
                .join(Organization, Organization.id == Subscription.tenant_id)
                .where(Subscription.status != "cancelled"),
                Subscription,
            )
            .order_by(Organization.name, Subscription.name)
            .limit(500)
        ).all(),
        tenants=session.execute(
            scoped(
                select(Organization.id, Organization.name).where(Organization.kind == "tenant"),
                Organization,
            )
            .order_by(Organization.name)
            .limit(500)
        ).all(),
        parents=session.execute(
            scoped(
                select(Organization.id, Organization.name, Organization.kind).where(
                    Organization.kind.in_(ALLOWED_PARENTS["tenant"])
                ),
                Organization,
            )
            .order_by(Organization.org_path)
            .limit(500)
        ).all(),
        platforms=platforms(),
        crumbs=_crumbs(("Orders", url_for("portal.order_list")), ("New order", "")),
    )


# --- licences: the tenant card, the subscription tab, the holders --------------------------


def _entitlements(where) -> list[Entitlement]:
    return list(
        session.scalars(
            select(Entitlement)
            .join(Sku, Sku.id == Entitlement.sku_id)
            .join(Subscription, Subscription.id == Entitlement.subscription_id)
            .where(where)
            .order_by(Subscription.name, Sku.name, Entitlement.id)
        )
    )


def _licence_table(rows: list[Entitlement], with_subscription: bool) -> Markup:
    head = Markup(
        "<tr>{}<th scope='col'>SKU</th><th scope='col'>Ordered</th>"
        "<th scope='col'>Consumed</th><th scope='col'>Available</th></tr>"
    ).format(Markup("<th scope='col'>Subscription</th>") if with_subscription else "")
    body = Markup("").join(
        Markup(
            "<tr>{}<td><a href='{}'>{}</a> <small>{}</small></td>"
            "<td>{}</td><td>{}</td><td>{}</td></tr>"
        ).format(
            Markup("<td>{}</td>").format(e.subscription.name) if with_subscription else "",
            url_for("portal.license_holders", entitlement_id=e.id),
            e.sku.name,
            e.sku.external_reference,
            e.ordered,
            e.consumed,
            e.available,
        )
        for e in rows
    )
    return Markup(
        "<div class='overflow-auto'><table class='striped licenses'><thead>{}</thead>"
        "<tbody>{}</tbody></table></div>"
    ).format(head, body)


def licenses_card_body(actor, tenant: Organization) -> Markup:
    rows = _entitlements(Subscription.tenant_id == tenant.id)
    if not rows:
        body = Markup("<p>No licences ordered yet.</p>")
    else:
        body = _licence_table(rows, with_subscription=True)
    if actor.is_group and actor.can_write:
        body += Markup("<a href='{}'>Place an order</a>").format(
            url_for("portal.order_new", type="new_subscription", tenant_id=tenant.id)
        )
    return body


def licenses_tab_body(actor, subscription: Subscription) -> Markup:
    rows = _entitlements(Entitlement.subscription_id == subscription.id)
    body = (
        _licence_table(rows, with_subscription=False)
        if rows
        else Markup("<p>No licences ordered for this subscription yet.</p>")
    )
    if actor.is_group and actor.can_write:
        body += Markup("<a href='{}'>Change this subscription (order)</a>").format(
            url_for("portal.order_new", type="change", subscription_id=subscription.id)
        )
    return body


@portal.get("/licenses/<id:entitlement_id>")
@login_required
def license_holders(entitlement_id):
    """Who holds the consumed units of one entitlement (a number, a trunk, a user...)."""
    ent = load(Entitlement, entitlement_id)
    sub = ent.subscription
    return render(
        "catalog/holders.html",
        ent=ent,
        sub=sub,
        holds=ledger.holds_of(session, [ent.id]),
        crumbs=[
            *breadcrumbs(sub.tenant),
            (sub.name, url_for("portal.subscription_page", sub_id=sub.id, tab="licenses")),
            (ent.sku.name, ""),
        ],
    )


# --- the licence report --------------------------------------------------------------------

GROUP_BY = ("tenant", "reseller", "distributor", "group")


def _report_args() -> dict[str, Any]:
    group_by = request.args.get("group_by", "tenant")
    view = request.args.get("view", "licenses")
    tier = request.args.get("tier") or None
    return {
        "group_by": group_by if group_by in GROUP_BY else "tenant",
        "view": view if view in ("licenses", "products") else "licenses",
        "tier": tier if tier in MARKUP_TIERS else None,
    }


def _report_rows(args: dict[str, Any]):
    actor = current_actor()
    if args["view"] == "products":
        rows = reports.product_rows(session, actor, args["group_by"], tier=args["tier"])
        return rows, reports.PRODUCT_COLUMNS
    return reports.license_rows(session, actor, args["group_by"]), reports.COLUMNS


@portal.get("/reports/licenses")
@login_required
def license_report():
    args = _report_args()
    rows, columns = _report_rows(args)
    shown = []
    for row in rows:
        if len(shown) == REPORT_ROWS:
            break
        shown.append(row)
    return render(
        "catalog/report.html",
        args=args,
        rows=shown,
        columns=columns,
        more=len(shown) == REPORT_ROWS,
        group_bys=GROUP_BY,
        tiers=MARKUP_TIERS if current_actor().is_group else (),
        crumbs=_crumbs(("Reports", url_for("portal.license_report"))),
    )


@portal.get("/reports/licenses/export")
@login_required
def license_report_export():
    args = _report_args()
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "json", "xlsx"):
        raise NotFound("No such format.")
    rows, columns = _report_rows(args)
    return _export(rows, fmt, f"{args['view']}-by-{args['group_by']}", columns)
