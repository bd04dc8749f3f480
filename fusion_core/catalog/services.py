"""Rules and transactions of the catalogue (SKUs, products) and of orders.

Catalogue rows belong to a group: every administrator of the group's tree reads them, only the
group's administrators write them. Orders are placed by the group only; each is fulfilled in one
transaction, and a refused order is kept as `rejected` with its reason and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import defaultdict
from typing import Any

from flask import current_app
from sqlalchemy import false, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fusion_core.catalog import ledger
from fusion_core.catalog.models import (
    NUMBER_TYPES,
    Entitlement,
    Order,
    OrderLine,
    Product,
    ProductLine,
    Sku,
    sku_key,
)
from fusion_core.context import Actor, current_actor
from fusion_core.db import utcnow
from fusion_core.errors import Conflict, FusionError, NotFound, ValidationFailed
from fusion_core.events import emit
from fusion_core.hierarchy import services as hierarchy
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.permissions import require, require_write
from fusion_core.scope import in_scope, load

COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,29}$")


class OrderRejected(Conflict):
    """The order was understood but cannot be fulfilled; it is kept as rejected."""

    code = "order_rejected"


# --- catalogue scope: the group of the actor's path -----------------------------------------


def group_path_of(path: str | None) -> str | None:
    if not path:
        return None
    return "/" + path.strip("/").split("/", 1)[0] + "/"


def catalog_scoped(stmt, model, actor: Actor | None = None):
    """Restrict a SELECT on a group-owned model to the actor's group."""
    actor = actor or current_actor()
    if actor.unrestricted:
        return stmt
    group = group_path_of(actor.org_path)
    return stmt.where(model.org_path == group) if group else stmt.where(false())


def load_catalog(model, ident, actor: Actor | None = None, *, what: str | None = None):
    """Load a SKU or product by id: 404 when missing or owned by another group."""
    actor = actor or current_actor()
    what = what or model.__label__
    obj = session_get(model, ident)
    if obj is None or not (actor.unrestricted or obj.org_path == group_path_of(actor.org_path)):
        raise NotFound(f"No {what} with id {ident}.", errors={"id": ["Not found."]})
    return obj


def session_get(model, ident):
    from fusion_core.db import session

    if not isinstance(ident, uuid.UUID):
        return None
    return session.get(model, ident)


def _owner_path(actor: Actor, group: Organization | None) -> str:
    if group is not None:
        if group.kind != "group":
            raise ValidationFailed("The catalogue belongs to a group.")
        return group.org_path
    if actor.unrestricted or not actor.org_path:
        raise ValidationFailed("Name the group whose catalogue this is.")
    return group_path_of(actor.org_path)


# --- SKUs --------------------------------------------------------------------------------------


def _sku_kind_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    kind = data["kind"]
    errors: dict[str, list[str]] = {}
    fields_of = {
        "license": {"license_type"},
        "number": {"country", "number_type", "vanity_class"},
        "customer_license": {"code"},
    }
    for key in ("license_type", "country", "number_type", "vanity_class", "code"):
        if data.get(key) is not None and key not in fields_of[kind]:
            errors[key] = [f"Not a field of a {kind} SKU."]
    if kind == "license":
        kinds = current_app.extensions["fusion"].registry.sku_kinds
        if not data.get("license_type"):
            errors["license_type"] = ["Required for a license SKU."]
        elif data["license_type"] not in kinds:
            errors["license_type"] = [f"Must be one of: {', '.join(sorted(kinds))}."]
    elif kind == "number":
        if not COUNTRY_RE.match(data.get("country") or ""):
            errors["country"] = ["An ISO 3166-1 alpha-2 country code in capitals, e.g. BE."]
        if data.get("number_type") not in NUMBER_TYPES:
            errors["number_type"] = [f"Must be one of: {', '.join(NUMBER_TYPES)}."]
        vanity = data.get("vanity_class")
        if vanity is not None and not SLUG_RE.match(vanity):
            errors["vanity_class"] = ["Lower-case letters, digits, - and _, up to 30."]
    elif not CODE_RE.match(data.get("code") or ""):
        errors["code"] = ["Letters, digits, '.', '-' and '_', up to 50, e.g. M365-E3."]
    return errors


def _check_reference_free(session: Session, path: str, reference: str, sku_id=None) -> None:
    stmt = select(Sku.id).where(Sku.org_path == path, Sku.external_reference == reference)
    if sku_id is not None:
        stmt = stmt.where(Sku.id != sku_id)
    if session.scalar(stmt) is not None:
        raise Conflict(
            f"External reference {reference!r} is already used in this catalogue.",
            errors={"external_reference": ["Already used by another SKU of this group."]},
        )


def create_sku(
    session: Session, data: dict[str, Any], group: Organization | None = None, actor=None
) -> Sku:
    actor = actor or current_actor()
    require(actor, "catalog.manage")
    path = _owner_path(actor, group)
    if errors := _sku_kind_errors(data):
        raise ValidationFailed("The SKU's fields do not fit its kind.", errors=errors)
    _check_reference_free(session, path, data["external_reference"])
    sku = Sku(org_path=path, **data)
    fields = ("kind", "license_type", "country", "number_type", "vanity_class", "code")
    sku.key = sku_key(**{k: data.get(k) for k in fields})
    session.add(sku)
    emit(session, "sku.created", path, id=sku.id, key=sku.key)
    session.commit()
    return sku


def update_sku(session: Session, sku: Sku, changes: dict[str, Any], actor=None) -> Sku:
    actor = actor or current_actor()
    require(actor, "catalog.manage")
    if "external_reference" in changes:
        _check_reference_free(session, sku.org_path, changes["external_reference"], sku.id)
    for key, value in changes.items():
        setattr(sku, key, value)
    if session.is_modified(sku):
        emit(session, "sku.updated", sku.org_path, id=sku.id, fields=sorted(changes))
    session.commit()
    return sku


# --- products ----------------------------------------------------------------------------------


def _product_lines(session: Session, path: str, lines: list[dict[str, Any]]) -> list[ProductLine]:
    errors: dict[str, Any] = {}
    seen: set[uuid.UUID] = set()
    result = []
    for i, line in enumerate(lines):
        sku = session.get(Sku, line["sku_id"])
        if sku is None or sku.org_path != path:
            errors[str(i)] = {"sku_id": [f"No SKU with id {line['sku_id']} in this catalogue."]}
        elif not sku.active:
            errors[str(i)] = {"sku_id": [f"SKU {sku.name!r} is inactive."]}
        elif sku.id in seen:
            errors[str(i)] = {"sku_id": ["Listed twice: give one line per SKU."]}
        else:
            seen.add(sku.id)
            result.append(
                ProductLine(sku_id=sku.id, quantity=line["quantity"], position=i, org_path=path)
            )
    if not lines:
        errors["_line"] = ["A product has at least one SKU."]
    if errors:
        raise ValidationFailed("The product's lines are invalid.", errors={"lines": errors})
    return result


def _plain_markups(data: dict[str, Any]) -> None:
    """Markups are kept as JSON: percentages as strings, start dates in ISO form."""
    if data.get("markups"):
        data["markups"] = [
            {
                "tier": m["tier"],
                "percent": str(m["percent"]),
                "starts_on": m["starts_on"].isoformat(),
            }
            for m in sorted(data["markups"], key=lambda m: (m["tier"], m["starts_on"]))
        ]


def _check_prices(data: dict[str, Any], product: Product | None = None) -> None:
    def value(key):
        return data[key] if key in data else getattr(product, key, None)

    priced = value("setup_price") is not None or value("monthly_price") is not None
    if priced and not value("currency"):
        raise ValidationFailed(
            "A price needs a currency.", errors={"currency": ["Required when a price is set."]}
        )


def _check_name_free(session: Session, path: str, name: str, product_id=None) -> None:
    stmt = select(Product.id).where(Product.org_path == path, Product.name == name)
    if product_id is not None:
        stmt = stmt.where(Product.id != product_id)
    if session.scalar(stmt) is not None:
        raise Conflict(
            f"A product named {name!r} already exists.",
            errors={"name": ["Already used by another product of this group."]},
        )


def create_product(
    session: Session, data: dict[str, Any], group: Organization | None = None, actor=None
) -> Product:
    actor = actor or current_actor()
    require(actor, "catalog.manage")
    path = _owner_path(actor, group)
    data = dict(data)
    lines = _product_lines(session, path, data.pop("lines", []))
    _check_prices(data)
    _plain_markups(data)
    _check_name_free(session, path, data["name"])
    product = Product(org_path=path, **data)
    product.lines = lines
    session.add(product)
    emit(session, "product.created", path, id=product.id, name=product.name)
    session.commit()
    return product


def update_product(session: Session, product: Product, changes: dict[str, Any], actor=None):
    actor = actor or current_actor()
    require(actor, "catalog.manage")
    changes = dict(changes)
    if "lines" in changes:
        new_lines = _product_lines(session, product.org_path, changes.pop("lines"))
        old = {(line.sku_id, line.quantity, line.position) for line in product.lines}
        if old != {(line.sku_id, line.quantity, line.position) for line in new_lines}:
            product.lines.clear()
            session.flush()  # the (product, sku) unique constraint: delete before insert
            product.lines.extend(new_lines)
            product.updated_at = utcnow()  # bumps the version: the ETag covers the lines
            changes["lines"] = True
    _check_prices(changes, product)
    _plain_markups(changes)
    if "name" in changes:
        _check_name_free(session, product.org_path, changes["name"], product.id)
    for key, value in changes.items():
        if key != "lines":
            setattr(product, key, value)
    if session.is_modified(product) or "lines" in changes:
        emit(session, "product.updated", product.org_path, id=product.id, fields=sorted(changes))
    session.commit()
    return product


def delete_product(session: Session, product: Product, actor=None) -> None:
    actor = actor or current_actor()
    require(actor, "catalog.manage")
    orders = session.execute(
        select(Order.id, Order.bss_reference)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(OrderLine.product_id == product.id)
        .distinct()
        .order_by(Order.id)
        .limit(21)
    ).all()
    if orders:
        shown = [
            f"order {o.id}" + (f" ({o.bss_reference})" if o.bss_reference else "")
            for o in orders[:20]
        ]
        more = " and more" if len(orders) > 20 else ""
        raise Conflict(
            f"The product is referenced by {len(orders)}{'+' if more else ''} order(s); "
            "deactivate it instead.",
            errors={"id": [f"Referenced by {', '.join(shown)}{more}."]},
            orders=[str(o.id) for o in orders[:20]],
        )
    session.delete(product)
    emit(session, "product.deleted", product.org_path, id=product.id, name=product.name)
    session.commit()


# --- orders ------------------------------------------------------------------------------------


def request_hash(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _target(session: Session, data: dict[str, Any], actor: Actor) -> tuple[str, Any]:
    """The organisation path the order is about, and the existing tenant or subscription."""
    kind = data["type"]
    field = {
        "new_tenant": "parent_id",
        "new_subscription": "tenant_id",
        "change": "subscription_id",
    }[kind]
    ident = data["tenant"]["parent_id"] if kind == "new_tenant" else data.get(field)
    model = Subscription if kind == "change" else Organization
    if ident is None:
        raise ValidationFailed(
            f"A {kind} order names its {field}.", errors={field: [f"Required for a {kind} order."]}
        )
    try:
        obj = load(model, ident, actor)
    except NotFound:
        where = f"tenant.{field}" if kind == "new_tenant" else field
        raise ValidationFailed(
            f"No {model.__label__} with id {ident} in your scope.",
            errors={where: [f"No {model.__label__} with id {ident} in your scope."]},
        ) from None
    if kind == "new_subscription" and obj.kind != "tenant":
        raise ValidationFailed(
            "Subscriptions belong to tenants.",
            errors={"tenant_id": [f"Organisation {obj.id} is a {obj.kind}, not a tenant."]},
        )
    return obj.org_path, obj


def _order_products(session: Session, data: dict[str, Any], group: str) -> dict[uuid.UUID, Product]:
    if not data["lines"]:
        raise ValidationFailed(
            "An order has at least one line.", errors={"lines": ["At least one line."]}
        )
    errors: dict[str, Any] = {}
    products: dict[uuid.UUID, Product] = {}
    for i, line in enumerate(data["lines"]):
        product = session.get(Product, line["product_id"])
        if product is None or product.org_path != group:
            errors[str(i)] = {"product_id": [f"No product with id {line['product_id']}."]}
        elif line["product_id"] in products:
            errors[str(i)] = {"product_id": ["Listed twice: give one line per product."]}
        elif line["quantity"] > 0 and not product.active:
            errors[str(i)] = {"product_id": [f"Product {product.name!r} is inactive."]}
        elif line["quantity"] < 0 and data["type"] != "change":
            errors[str(i)] = {"quantity": ["Only a change order can remove units."]}
        else:
            products[product.id] = product
    if errors:
        raise ValidationFailed("The order's lines are invalid.", errors={"lines": errors})
    return products


def _deltas(data, products) -> dict[uuid.UUID, tuple[Sku, int]]:
    totals: dict[uuid.UUID, int] = defaultdict(int)
    skus: dict[uuid.UUID, Sku] = {}
    for line in data["lines"]:
        for pl in products[line["product_id"]].lines:
            totals[pl.sku_id] += line["quantity"] * pl.quantity
            skus[pl.sku_id] = pl.sku
    return {sid: (skus[sid], n) for sid, n in sorted(totals.items()) if n}


def _fulfil(
    session: Session, data, target, products, actor
) -> tuple[Organization, Subscription, list]:
    kind = data["type"]
    if kind == "new_tenant":
        tenant = hierarchy.create_organization(
            session,
            "tenant",
            target.id,
            actor=actor,
            commit=False,
            **{k: v for k, v in data["tenant"].items() if k != "parent_id"},
        )
        session.flush()
    else:
        tenant = target if kind == "new_subscription" else target.tenant
    if kind == "change":
        # One order at a time per subscription: entitlement rows are created without races.
        sub = session.scalars(
            select(Subscription).where(Subscription.id == target.id).with_for_update()
        ).one()
        if sub.status == "cancelled":
            raise OrderRejected(
                "The subscription is cancelled.",
                errors={"subscription_id": ["The subscription is cancelled."]},
            )
    else:
        sub = hierarchy.create_subscription(
            session, tenant, actor=actor, commit=False, **data["subscription"]
        )
        session.flush()
    effect, refused = [], []
    for sku, delta in _deltas(data, products).values():
        entry = {
            "sku_id": str(sku.id),
            "sku_name": sku.name,
            "external_reference": sku.external_reference,
            "key": sku.key,
            "delta": delta,
        }
        if ledger.change_ordered(session, sub, sku, delta):
            effect.append(entry)
        else:
            refused.append(entry)
    if refused:
        raise _downgrade_refused(session, sub, refused)
    return tenant, sub, effect


def _downgrade_refused(session: Session, sub: Subscription, refused: list) -> OrderRejected:
    reasons, details = [], []
    for entry in refused:
        ent = session.scalar(
            select(Entitlement).where(
                Entitlement.subscription_id == sub.id,
                Entitlement.sku_id == uuid.UUID(entry["sku_id"]),
            )
        )
        ordered, consumed = (ent.ordered, ent.consumed) if ent else (0, 0)
        holds = ledger.holds_of(session, [ent.id]) if ent else []
        holders = [
            {"holder_type": h.holder_type, "holder_id": h.holder_id, "quantity": h.quantity}
            for h in holds
        ]
        held = ", ".join(f"{h['holder_type']}:{h['holder_id']} ({h['quantity']})" for h in holders)
        reasons.append(
            f"{entry['sku_name']} ({entry['external_reference']}): {ordered} ordered, "
            f"{consumed} consumed, {entry['delta']} requested"
            + (f"; held by {held}" if held else "")
        )
        details.append({**entry, "ordered": ordered, "consumed": consumed, "holders": holders})
    return OrderRejected(
        "The downgrade would leave fewer units than are consumed: " + "; ".join(reasons) + ".",
        errors={"lines": reasons},
        refused=details,
    )


def _new_order(data, plain, h, key, group, path, state="submitted") -> Order:
    order = Order(
        group_path=group,
        org_path=path,
        type=data["type"],
        state=state,
        bss_reference=data.get("bss_reference"),
        idempotency_key=key,
        request_hash=h,
        request={k: plain[k] for k in ("tenant", "subscription") if k in plain} or None,
    )
    order.lines = [
        OrderLine(
            product_id=line["product_id"], quantity=line["quantity"], position=i, org_path=path
        )
        for i, line in enumerate(data["lines"])
    ]
    return order


def find_by_key(session: Session, group: str, key: str) -> Order | None:
    return session.scalar(
        select(Order).where(Order.group_path == group, Order.idempotency_key == key)
    )


def _replay(existing: Order, h: str, key: str) -> Order:
    if existing.request_hash != h:
        raise ValidationFailed(
            "This Idempotency-Key was already used for a different order.",
            errors={"Idempotency-Key": [f"Key {key!r} belongs to order {existing.id}."]},
            location="header",
        )
    return existing


def place_order(
    session: Session, data: dict[str, Any], idempotency_key: str | None = None, actor=None
) -> tuple[Order, bool]:
    """Place and fulfil an order in one transaction; (order, replayed).

    A retry with the same Idempotency-Key and body returns the first order (replayed=True)
    and changes nothing. A refusal (e.g. a downgrade below what is consumed) rolls back every
    change and keeps the order as `rejected` with its reason; invalid input keeps nothing."""
    actor = actor or current_actor()
    require(actor, "orders.place")
    require_write(actor)
    plain = json.loads(json.dumps(data, default=str))  # what is stored and hashed
    h = request_hash(plain)
    path, target = _target(session, data, actor)
    group = group_path_of(path)
    if idempotency_key and (existing := find_by_key(session, group, idempotency_key)):
        return _replay(existing, h, idempotency_key), True
    products = _order_products(session, data, group)
    try:
        # Added once fulfilled: the audit records it as created completed (or rejected). The
        # "submitted" state is for fulfilment that would wait on an outside system.
        order = _new_order(data, plain, h, idempotency_key, group, path)
        try:
            tenant, sub, effect = _fulfil(session, data, target, products, actor)
        except OrderRejected as rejection:
            session.rollback()  # nothing of the fulfilment stays; the order is kept as rejected
            order = _new_order(data, plain, h, idempotency_key, group, path, "rejected")
            order.reason = rejection.message
            order.rejection = {
                "code": rejection.code,
                "message": rejection.message,
                "errors": rejection.errors,
                **rejection.details,
            }
            session.add(order)
            emit(session, "order.rejected", path, id=order.id, reason=rejection.message)
        else:
            order.state = "completed"
            order.completed_at = utcnow()
            order.tenant_id, order.subscription_id = tenant.id, sub.id
            order.org_path = sub.org_path
            for line in order.lines:
                line.org_path = sub.org_path
            order.effect = effect
            session.add(order)
            emit(
                session,
                "order.completed",
                sub.org_path,
                id=order.id,
                type=order.type,
                subscription_id=sub.id,
                bss_reference=order.bss_reference,
            )
        session.commit()
    except FusionError:
        session.rollback()
        raise
    except IntegrityError:
        session.rollback()
        # A concurrent request with the same key won the race: answer with its order.
        if idempotency_key and (existing := find_by_key(session, group, idempotency_key)):
            return _replay(existing, h, idempotency_key), True
        raise
    return order, False


def order_visible(order: Order, actor: Actor | None = None) -> bool:
    return in_scope(order.org_path, actor)


def count_orders_for_product(session: Session, product_id: uuid.UUID) -> int:
    return session.scalar(
        select(func.count()).select_from(OrderLine).where(OrderLine.product_id == product_id)
    )


def preview_order(session: Session, data: dict[str, Any], actor=None) -> dict[str, Any]:
    """What `place_order` would do to the subscription's entitlements, computed without
    writing anything: per SKU the delta, what is ordered and consumed now, and what would be
    ordered and available after. A line that would go below what is consumed is marked
    `refused` with the holders of the units. The same checks as placing the order apply
    (group only, scope, products), so a preview that passes is an order that would pass."""
    actor = actor or current_actor()
    require(actor, "orders.place")
    _path, target = _target(session, data, actor)
    products = _order_products(session, data, group_path_of(_path))
    current: dict[uuid.UUID, Entitlement] = {}
    if data["type"] == "change":
        current = {
            e.sku_id: e
            for e in session.scalars(
                select(Entitlement).where(Entitlement.subscription_id == target.id)
            )
        }
    rows = []
    for sku, delta in _deltas(data, products).values():
        ent = current.get(sku.id)
        ordered, consumed = (ent.ordered, ent.consumed) if ent else (0, 0)
        after = ordered + delta
        refused = after < consumed
        holders = []
        if refused and ent is not None:
            holders = [
                {"holder_type": h.holder_type, "holder_id": h.holder_id, "quantity": h.quantity}
                for h in ledger.holds_of(session, [ent.id])
            ]
        rows.append(
            {
                "sku_id": str(sku.id),
                "sku_name": sku.name,
                "external_reference": sku.external_reference,
                "key": sku.key,
                "delta": delta,
                "ordered": ordered,
                "consumed": consumed,
                "ordered_after": after,
                "available_after": after - consumed,
                "refused": refused,
                "holders": holders,
            }
        )
    return {"effect": rows, "refused": any(r["refused"] for r in rows)}
