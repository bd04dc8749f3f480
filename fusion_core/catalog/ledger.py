"""The entitlement ledger: what plugins call to take and give back licences and numbers.

    from fusion_core.catalog.ledger import consume, release

    consume(session, subscription, "teams_seat", 1, ("teams_users", user.id))
    release(session, ("teams_users", user.id))

Both counters of an entitlement change only through conditional UPDATEs
(`... SET consumed = consumed + :n WHERE id = :id AND consumed + :n <= ordered`), checked by
their row count, and the table's CHECK constraint backs them: however many consumers race,
nothing is overdrawn. These statements bypass the flush listener, so each records its own
audit entry. The caller commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from fusion_core.audit.recorder import record
from fusion_core.catalog.models import Entitlement, EntitlementHold, Sku
from fusion_core.errors import Conflict, ValidationFailed
from fusion_core.hierarchy.models import Subscription

Holder = tuple[str, Any]
"""(holder type, holder id): e.g. ("numbers", number.id), ("siptrunk_trunks", trunk.id)."""


class NothingLeft(Conflict):
    """A consumer asked for more units than the subscription has left."""

    code = "entitlement_exhausted"


def holder_ref(holder: Holder | Any) -> tuple[str, str]:
    """Normalise a holder: a (type, id) pair, or a model instance (its table name and id)."""
    if isinstance(holder, tuple):
        kind, ident = holder
    else:
        kind, ident = type(holder).__tablename__, holder.id
    kind, ident = str(kind), str(ident)
    if not kind or not ident or len(kind) > 50 or len(ident) > 100:
        raise ValueError(f"invalid holder {holder!r}: (type up to 50, id up to 100 characters)")
    return kind, ident


def _sku_condition(selector: Sku | uuid.UUID | str):
    if isinstance(selector, Sku):
        return Sku.id == selector.id
    if isinstance(selector, uuid.UUID):
        return Sku.id == selector
    return Sku.key == selector


def entitlements_for(
    session: Session, subscription_id: uuid.UUID, selector: Sku | uuid.UUID | str
) -> list[Entitlement]:
    """The subscription's entitlements matching `selector`, most available first."""
    stmt = (
        select(Entitlement)
        .join(Sku, Sku.id == Entitlement.sku_id)
        .where(Entitlement.subscription_id == subscription_id, _sku_condition(selector))
        .order_by((Entitlement.ordered - Entitlement.consumed).desc(), Entitlement.id)
    )
    return list(session.scalars(stmt))


def _shift(session: Session, ent: Entitlement, column: str, delta: int, guard) -> bool:
    """Add `delta` to one counter if `guard` holds in the database; audit the change."""
    col = getattr(Entitlement, column)
    stmt = (
        update(Entitlement)
        .where(Entitlement.id == ent.id, guard)
        .values({column: col + delta})
        .returning(Entitlement.ordered, Entitlement.consumed)
        .execution_options(fusion_audit="recorded", synchronize_session=False)
    )
    row = session.execute(stmt).first()
    if row is None:
        return False
    after = row.ordered if column == "ordered" else row.consumed
    set_committed_value(ent, "ordered", row.ordered)
    set_committed_value(ent, "consumed", row.consumed)
    record(session, ent, "update", {column: [after - delta, after]})
    return True


def consume(
    session: Session,
    subscription: Subscription | uuid.UUID,
    selector: Sku | uuid.UUID | str,
    quantity: int,
    holder: Holder | Any,
) -> EntitlementHold:
    """Take `quantity` units of the SKU `selector` names (a SKU, its id, or a key such as
    `teams_seat`, `number:BE:geographic`, `customer:M365-E3`) for `holder`.

    Raises NothingLeft (409) naming the SKU and what is left when the subscription has not
    enough. A holder consuming again from the same entitlement holds more units."""
    if quantity < 1:
        raise ValidationFailed("Consume at least one unit.", errors={"quantity": ["Must be >= 1."]})
    sub_id = subscription.id if isinstance(subscription, Subscription) else subscription
    kind, ident = holder_ref(holder)
    candidates = entitlements_for(session, sub_id, selector)
    for ent in candidates:
        guard = Entitlement.consumed + quantity <= Entitlement.ordered
        if _shift(session, ent, "consumed", quantity, guard):
            return _hold(session, ent, kind, ident, quantity)
    raise _nothing_left(session, sub_id, selector, quantity, candidates)


def _hold(session: Session, ent: Entitlement, kind: str, ident: str, quantity: int):
    hold = session.scalar(
        select(EntitlementHold).where(
            EntitlementHold.entitlement_id == ent.id,
            EntitlementHold.holder_type == kind,
            EntitlementHold.holder_id == ident,
        )
    )
    if hold is None:
        hold = EntitlementHold(
            entitlement_id=ent.id,
            holder_type=kind,
            holder_id=ident,
            quantity=quantity,
            org_path=ent.org_path,
        )
        session.add(hold)
    else:
        hold.quantity += quantity
    session.flush()
    return hold


def _nothing_left(session, sub_id, selector, quantity, candidates) -> NothingLeft:
    if isinstance(selector, Sku):
        label = f"{selector.name} ({selector.key})"
    elif isinstance(selector, uuid.UUID):
        sku = session.get(Sku, selector)
        label = f"{sku.name} ({sku.key})" if sku else f"SKU {selector}"
    else:
        label = selector
    if not candidates:
        return NothingLeft(
            f"Subscription {sub_id} has no {label} entitlement: order a product that grants it.",
            errors={"quantity": [f"0 {label} available; {quantity} requested."]},
            sku=label,
            ordered=0,
            consumed=0,
            available=0,
        )
    for ent in candidates:
        session.refresh(ent, ["ordered", "consumed"])
    ordered = sum(e.ordered for e in candidates)
    consumed = sum(e.consumed for e in candidates)
    best = max(e.available for e in candidates)
    return NothingLeft(
        f"Not enough {label} left on subscription {sub_id}: {ordered} ordered, {consumed} "
        f"consumed, {ordered - consumed} available; {quantity} requested.",
        errors={
            "quantity": [f"{best} {label} available in one entitlement; {quantity} requested."]
        },
        sku=label,
        ordered=ordered,
        consumed=consumed,
        available=ordered - consumed,
    )


def release(
    session: Session, holder: Holder | Any, subscription: Subscription | uuid.UUID | None = None
) -> int:
    """Give back every unit `holder` holds (on one subscription, or everywhere); the count."""
    kind, ident = holder_ref(holder)
    stmt = select(EntitlementHold).where(
        EntitlementHold.holder_type == kind, EntitlementHold.holder_id == ident
    )
    if subscription is not None:
        sub_id = subscription.id if isinstance(subscription, Subscription) else subscription
        stmt = stmt.join(Entitlement).where(Entitlement.subscription_id == sub_id)
    released = 0
    for hold in session.scalars(stmt.with_for_update()).all():
        ent = session.get(Entitlement, hold.entitlement_id)
        n = hold.quantity
        if not _shift(session, ent, "consumed", -n, Entitlement.consumed >= n):
            raise RuntimeError(f"ledger out of balance on entitlement {ent.id}")  # CHECK forbids
        session.delete(hold)
        released += n
    session.flush()
    return released


def change_ordered(session: Session, subscription: Subscription, sku: Sku, delta: int) -> bool:
    """Add (or, negative, remove) ordered units; False when that would go below consumed."""
    ent = session.scalar(
        select(Entitlement).where(
            Entitlement.subscription_id == subscription.id, Entitlement.sku_id == sku.id
        )
    )
    if ent is None:
        if delta < 0:
            return False
        session.add(
            Entitlement(
                subscription_id=subscription.id,
                sku_id=sku.id,
                ordered=delta,
                consumed=0,
                org_path=subscription.org_path,
            )
        )
        session.flush()
        return True
    return _shift(
        session, ent, "ordered", delta, Entitlement.ordered + delta >= Entitlement.consumed
    )


def holds_of(session: Session, entitlement_ids: list[uuid.UUID]) -> list[EntitlementHold]:
    if not entitlement_ids:
        return []
    return list(
        session.scalars(
            select(EntitlementHold)
            .where(EntitlementHold.entitlement_id.in_(entitlement_ids))
            .order_by(EntitlementHold.holder_type, EntitlementHold.holder_id)
        )
    )
