"""Tenant self-service: requests for new numbers, worked by the administrators above.

A request names a tenant subscription and either a quantity of numbers of a country and type
(optionally in one area) or one specific (vanity) number. Creating it reserves matching
available numbers from the pools above the tenant at once — through the lifecycle's `reserve`
transition, so each number's history and the audit follow — until the group's reservation
days run out. When fewer numbers match than asked for, the request is refused (422 on
`quantity`, saying how many there are) and nothing is reserved.

    pending --approve--> approved   (every number allocated; entitlements consumed)
    pending --reject---> rejected   (numbers unreserved; a reason is required)
    pending --cancel---> cancelled  (by the requester or above; numbers unreserved)
    pending --expire---> expired    (the job, when the reservation ends)
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from fusion_core.context import Actor, current_actor
from fusion_core.db import utcnow
from fusion_core.errors import Conflict, NotFound, ValidationFailed
from fusion_core.events import emit
from fusion_core.hierarchy.models import Subscription
from fusion_core.numbering import lifecycle
from fusion_core.numbering.models import NumberRequest, PhoneNumber
from fusion_core.numbering.services import (
    AFTER_DIGITS,
    allocate_to,
    settings_for,
)
from fusion_core.numbering.validation import NumberInvalid, check_number
from fusion_core.permissions import require, require_write
from fusion_core.scope import load

MAX_QUANTITY = 100

REQUEST_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "approve": (("pending",), "approved"),
    "reject": (("pending",), "rejected"),
    "cancel": (("pending",), "cancelled"),
    "expire": (("pending",), "expired"),
}


def subscription_in_scope(session: Session, subscription_id: uuid.UUID) -> Subscription:
    try:
        sub = load(Subscription, subscription_id)
    except NotFound:
        sub = None
    if sub is None:
        raise ValidationFailed(
            "No such subscription in your scope.",
            errors={"subscription_id": [f"No subscription {subscription_id} in your scope."]},
        )
    if sub.status != "active":
        raise ValidationFailed(
            "Numbers go to active subscriptions.",
            errors={"subscription_id": [f"The subscription is {sub.status}."]},
        )
    return sub


def pools_above(path: str) -> list[str]:
    """The organisation paths strictly above `path` (a tenant's): the pools that serve it."""
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:depth]) + "/" for depth in range(1, len(parts))]


def create_request(session: Session, data: dict[str, Any], actor: Actor | None = None):
    actor = actor or current_actor()
    sub = subscription_in_scope(session, data["subscription_id"])
    require_write(actor)
    vanity = data.get("number")
    country, number_type = data.get("country"), data.get("type")
    if vanity:
        try:
            valid = check_number(vanity, declared_type=number_type, country=country)
        except NumberInvalid as exc:
            raise ValidationFailed(
                "That number cannot be requested.", errors={exc.field: [exc.reason]}
            ) from None
        country, number_type, quantity = valid.country, valid.number_type, 1
    else:
        missing = {f: ["Required unless you ask for one specific number."]
                   for f in ("country", "type") if not data.get(f)}  # fmt: skip
        if missing:
            raise ValidationFailed("Say which numbers you need.", errors=missing)
        country, quantity = country.upper(), data.get("quantity", 1)
    stmt = select(PhoneNumber).where(
        PhoneNumber.state == "available",
        PhoneNumber.org_path.in_(pools_above(sub.org_path)),
        PhoneNumber.country == country,
        PhoneNumber.number_type == number_type,
    )
    if vanity:
        stmt = stmt.where(PhoneNumber.e164 == vanity)
    if data.get("area"):
        stmt = stmt.where(PhoneNumber.area == data["area"])
        # The area code starts the national number, so it is also a prefix of the E.164 form:
        # the (country, number_type, state, e164) index then reads just the area, in order.
        code = phonenumbers.country_code_for_region(country)
        if code:
            start = f"+{code}{data['area']}"
            stmt = stmt.where(PhoneNumber.e164 >= start, PhoneNumber.e164 < start + AFTER_DIGITS)
    found = session.scalars(
        stmt.order_by(PhoneNumber.e164)
        .limit(quantity)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    if len(found) < quantity:
        session.rollback()
        if vanity:
            raise ValidationFailed(
                "That number is not available to you.",
                errors={"number": [f"{vanity} is not available in the pools serving the tenant."]},
                available=0,
            )
        where = f" in area {data['area']}" if data.get("area") else ""
        raise ValidationFailed(
            f"Only {len(found)} matching number(s) are available; nothing was reserved.",
            errors={
                "quantity": [
                    f"{quantity} asked, {len(found)} available ({country} {number_type}{where})."
                ]
            },
            available=len(found),
        )
    days = settings_for(session, sub.org_path).reservation_days
    until = utcnow() + timedelta(days=days)
    request = NumberRequest(
        subscription_id=sub.id,
        tenant_id=sub.tenant_id,
        org_path=sub.org_path,
        country=country,
        number_type=number_type,
        area=data.get("area"),
        vanity_number=vanity,
        quantity=quantity,
        state="pending",
        number_ids=[str(n.id) for n in found],
        numbers=[n.e164 for n in found],
        expires_at=until,
        note=data.get("note"),
        requested_by=actor.label,
    )
    session.add(request)
    for number in found:
        lifecycle.apply(
            session,
            number,
            "reserve",
            reason=f"number request {request.id}",
            details={"tenant_id": sub.tenant_id, "until": until.isoformat(), "request": request.id},
            reserved_for_id=sub.tenant_id,
            reserved_until=until,
        )
    emit(session, "number_request.created", sub.org_path, id=request.id, quantity=quantity)
    session.commit()
    return request


def _move(request: NumberRequest, action: str) -> None:
    sources, target = REQUEST_TRANSITIONS[action]
    if request.state not in sources:
        raise Conflict(
            f"The request is {request.state}: it cannot be {action}d.",
            errors={"state": [f"The request is {request.state}; {action} needs it pending."]},
            state=request.state,
        )
    request.state = target


def _held(session: Session, request: NumberRequest) -> list[PhoneNumber]:
    """The request's numbers still reserved for its tenant, row-locked."""
    ids = [uuid.UUID(i) for i in request.number_ids]
    return list(
        session.scalars(
            select(PhoneNumber)
            .where(
                PhoneNumber.id.in_(ids),
                PhoneNumber.state == "reserved",
                PhoneNumber.reserved_for_id == request.tenant_id,
            )
            .order_by(PhoneNumber.e164)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def _unreserve(session, request, why: str) -> None:
    for number in _held(session, request):
        lifecycle.apply(
            session, number, "unreserve", reason=why, reserved_for_id=None, reserved_until=None
        )


def _decided(request, actor, reason=None) -> None:
    request.decided_by = actor.label
    request.decided_at = utcnow()
    request.decision_reason = reason


def approve(session: Session, request: NumberRequest, reason=None, actor=None):
    """Allocate every reserved number to the subscription, consuming entitlements: all or
    nothing (the ledger's 409 rolls everything back)."""
    actor = actor or current_actor()
    require(actor, "numbers.requests.work", "approve number requests")
    _move(request, "approve")
    if request.expires_at <= utcnow():
        session.rollback()
        raise Conflict(
            "The request's reservation has expired.",
            errors={"state": ["The reservation has expired; the tenant must ask again."]},
            state="expired",
        )
    numbers = _held(session, request)
    if len(numbers) != len(request.number_ids):
        session.rollback()
        raise Conflict(
            "Some of the request's numbers are no longer reserved for it.",
            errors={"state": ["The reservation was cancelled; reject the request."]},
            state="pending",
        )
    sub = session.get(Subscription, request.subscription_id)
    why = reason or f"number request {request.id} approved"
    try:
        for number in numbers:
            allocate_to(session, number, sub, why, details={"request": request.id})
    except Exception:
        session.rollback()
        raise
    _decided(request, actor, reason)
    emit(session, "number_request.approved", request.org_path, id=request.id)
    session.commit()
    return request


def reject(session: Session, request: NumberRequest, reason: str, actor=None):
    actor = actor or current_actor()
    require(actor, "numbers.requests.work", "reject number requests")
    _move(request, "reject")
    _unreserve(session, request, f"number request rejected: {reason}")
    _decided(request, actor, reason)
    emit(session, "number_request.rejected", request.org_path, id=request.id, reason=reason)
    session.commit()
    return request


def cancel(session: Session, request: NumberRequest, reason=None, actor=None):
    actor = actor or current_actor()
    require_write(actor)
    _move(request, "cancel")
    _unreserve(session, request, reason or "number request cancelled")
    _decided(request, actor, reason)
    session.commit()
    return request


def expire_requests(session: Session) -> int:
    """Pending requests whose reservation is over: expired, their numbers back to available.
    Called by the `numbering.expire` job before it ends single reservations."""
    due = session.scalars(
        select(NumberRequest)
        .where(NumberRequest.state == "pending", NumberRequest.expires_at <= utcnow())
        .limit(1000)
        .with_for_update(skip_locked=True)
    ).all()
    for request in due:
        _move(request, "expire")
        _unreserve(session, request, "number request expired")
        request.decided_at = utcnow()
        request.decided_by = "system"
    return len(due)
