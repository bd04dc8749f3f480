"""Port-ins: bringing a tenant's numbers over from another carrier.

ONE transition table. The requesting side (the tenant, or anyone above it) drafts, submits and
may cancel; the administrators above the tenant accept (pending: sent to the losing carrier),
schedule, complete or reject. Each country can require steps (the group's numbering settings,
`port_steps`: {"BE": ["letter of authorisation", ...]}); the steps are fixed on the port when
it is created, marked done one by one, and a port completes only when all are done.

Accepting a port (submitted -> pending: sent to the losing carrier) puts every number in the
inventory in `porting` (owned by the group, its history starting with `port_in`; a number a
cancelled port left retired comes back by the lifecycle's `port_in`), so no import or other
port-in can take it meanwhile and searches show it. Completing moves each along
`complete_port` to `allocated` for the subscription, consuming one number entitlement each —
all or nothing; rejecting or cancelling a port after acceptance retires them (`cancel_port`).

Documents (letters of authorisation, bills) are stored in the database, at most
MAX_DOCUMENTS of at most MAX_DOCUMENT_BYTES each per port: they are small and few, and this
keeps backups and scoping in one place.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fusion_core.context import Actor, current_actor
from fusion_core.db import utcnow
from fusion_core.errors import Conflict, ValidationFailed
from fusion_core.events import emit
from fusion_core.hierarchy.models import Subscription
from fusion_core.numbering import lifecycle
from fusion_core.numbering.models import PhoneNumber, PortDocument, PortIn
from fusion_core.numbering.requests import subscription_in_scope
from fusion_core.numbering.services import (
    allocate_to,
    group_of,
    settings_for,
)
from fusion_core.numbering.validation import (
    NumberInvalid,
    check_number,
    check_range,
    range_numbers,
)
from fusion_core.permissions import require, require_write

MAX_PORT_NUMBERS = 1000
MAX_DOCUMENT_BYTES = 512 * 1024  # base64 in a JSON body: fits MAX_BODY_BYTES (1 MiB)
MAX_DOCUMENTS = 10


@dataclass(frozen=True)
class PortTransition:
    action: str
    sources: tuple[str, ...]
    target: str
    upstream: bool  # only administrators above the tenant


PORT_TRANSITIONS: dict[str, PortTransition] = {
    t.action: t
    for t in (
        PortTransition("submit", ("draft",), "submitted", False),
        PortTransition("accept", ("submitted",), "pending", True),
        PortTransition("schedule", ("pending", "scheduled"), "scheduled", True),
        PortTransition("complete", ("scheduled",), "completed", True),
        PortTransition("reject", ("submitted", "pending", "scheduled"), "rejected", True),
        PortTransition(
            "cancel", ("draft", "submitted", "pending", "scheduled"), "cancelled", False
        ),
    )
}


def port_actions(state: str) -> list[str]:
    return [t.action for t in PORT_TRANSITIONS.values() if state in t.sources]


def _check(port: PortIn, action: str) -> PortTransition:
    transition = PORT_TRANSITIONS[action]
    if port.state not in transition.sources:
        raise Conflict(
            f"The port-in is {port.state}: it cannot be {action}ed now.",
            errors={
                "state": [
                    f"The port-in is {port.state}; {action} needs it to be "
                    f"{' or '.join(transition.sources)}. From {port.state} you can: "
                    f"{', '.join(port_actions(port.state)) or 'nothing'}."
                ]
            },
            state=port.state,
        )
    return transition


def _expand(data: dict[str, Any]) -> tuple[list[str], str, str]:
    """Every number of the port (validated), its country and type; 422 naming the entry."""
    numbers: list[str] = []
    kinds: set[tuple[str, str]] = set()
    for i, value in enumerate(data.get("numbers") or []):
        try:
            valid = check_number(value)
        except NumberInvalid as exc:
            raise ValidationFailed(
                "A number cannot be ported.", errors={"numbers": [f"{i}: {value}: {exc.reason}"]}
            ) from None
        numbers.append(valid.e164)
        kinds.add((valid.country, valid.number_type))
    for i, block in enumerate(data.get("ranges") or []):
        try:
            valid = check_range(block["first"], block["last"])
        except NumberInvalid as exc:
            raise ValidationFailed(
                "A range cannot be ported.",
                errors={"ranges": [f"{i}: {exc.field}: {exc.reason}"]},
            ) from None
        if len(numbers) + valid.count > MAX_PORT_NUMBERS:
            raise ValidationFailed(
                "Too many numbers for one port-in.",
                errors={"ranges": [f"At most {MAX_PORT_NUMBERS} numbers per port-in."]},
            )
        numbers.extend(range_numbers(block["first"], valid.count))
        kinds.add((valid.first.country, valid.first.number_type))
    if not numbers:
        raise ValidationFailed(
            "Name the numbers to port.", errors={"numbers": ["Give numbers or ranges."]}
        )
    if len(numbers) > MAX_PORT_NUMBERS:
        raise ValidationFailed(
            "Too many numbers for one port-in.",
            errors={"numbers": [f"At most {MAX_PORT_NUMBERS} numbers per port-in."]},
        )
    if len(set(numbers)) != len(numbers):
        raise ValidationFailed(
            "A number is named twice.", errors={"numbers": ["Each number once (ranges overlap)."]}
        )
    if len(kinds) != 1:
        raise ValidationFailed(
            "One port-in moves numbers of one country and type.",
            errors={"numbers": [f"Mixed: {', '.join(sorted(f'{c} {t}' for c, t in kinds))}."]},
        )
    (country, number_type) = kinds.pop()
    return numbers, country, number_type


def _existing(session: Session, numbers: list[str], *, lock: bool = False) -> list[PhoneNumber]:
    found: list[PhoneNumber] = []
    for start in range(0, len(numbers), 500):
        stmt = select(PhoneNumber).where(PhoneNumber.e164.in_(numbers[start : start + 500]))
        found += session.scalars(stmt.with_for_update() if lock else stmt).all()
    return found


def _already_here(session: Session, numbers: list[str]) -> list[str]:
    """The numbers the platform holds in service: a retired one (an earlier port-in that was
    cancelled, a number taken out of service) can be ported in again."""
    return sorted(n.e164 for n in _existing(session, numbers) if n.state != "retired")


def create_port(session: Session, data: dict[str, Any], actor: Actor | None = None) -> PortIn:
    actor = actor or current_actor()
    sub = subscription_in_scope(session, data["subscription_id"])
    require_write(actor)
    numbers, country, number_type = _expand(data)
    clash = _already_here(session, numbers)
    if clash:
        raise ValidationFailed(
            "Some numbers are already on the platform.",
            errors={"numbers": [f"{e}: already in the platform's inventory" for e in clash[:20]]},
        )
    steps = list((settings_for(session, sub.org_path).port_steps or {}).get(country, []))
    port = PortIn(
        subscription_id=sub.id,
        tenant_id=sub.tenant_id,
        org_path=sub.org_path,
        country=country,
        number_type=number_type,
        numbers=numbers,
        ranges=[{"first": r["first"], "last": r["last"]} for r in data.get("ranges") or []],
        count=len(numbers),
        current_carrier=data["current_carrier"],
        account_reference=data["account_reference"],
        requested_date=data["requested_date"],
        state="draft",
        steps=steps,
        steps_done=[],
        comments=[],
        requested_by=actor.label,
    )
    session.add(port)
    if data.get("submit"):
        _check(port, "submit")
        port.state = "submitted"
    session.commit()
    return port


def transition(
    session: Session, port: PortIn, action: str, *, reason=None, date=None, actor=None
) -> PortIn:
    actor = actor or current_actor()
    move = PORT_TRANSITIONS[action]
    if move.upstream:
        require(actor, "numbers.ports.work", f"{action} port-ins")
    else:
        require_write(actor)
    _check(port, action)
    if action == "reject" and not reason:
        raise ValidationFailed("Say why.", errors={"reason": ["Required to reject a port-in."]})
    if action == "schedule":
        if date is None:
            raise ValidationFailed("When?", errors={"date": ["Required to schedule."]})
        port.scheduled_for = date
    if action == "accept":
        _start_porting(session, port)
    elif action == "complete":
        _complete(session, port)
    elif action in ("reject", "cancel") and port.state in ("pending", "scheduled"):
        _abandon(session, port, action, reason)
    port.state = move.target
    if reason:
        port.reason = reason
    _comment(port, actor, f"{action}" + (f": {reason}" if reason else ""), system=True)
    emit(session, f"port_in.{move.target}", port.org_path, id=port.id)
    session.commit()
    return port


def _start_porting(session: Session, port: PortIn) -> None:
    """Accepted: the port's numbers enter the inventory in `porting`, all or none."""
    clash = _already_here(session, port.numbers)
    if clash:
        raise Conflict(
            "Some numbers arrived on the platform since the port-in was made.",
            errors={"numbers": [f"{e}: already in the platform's inventory" for e in clash[:20]]},
            state=port.state,
        )
    group_path = group_of(session, port.org_path).org_path
    retired = {n.e164: n for n in _existing(session, port.numbers, lock=True)}
    details = {"port_in": port.id, "carrier": port.current_carrier}
    for e164 in port.numbers:
        number = retired.get(e164)
        if number is not None:
            lifecycle.apply(
                session, number, "port_in", reason=f"port-in {port.id}", details=details,
                org_path=group_path, pool_path=group_path, subscription_id=None,
                notes=f"ported in from {port.current_carrier}",
            )  # fmt: skip
            continue
        valid = check_number(e164)
        number = PhoneNumber(
            id=uuid.uuid4(),
            e164=e164,
            country=valid.country,
            number_type=valid.number_type,
            area=valid.area,
            state="porting",
            org_path=group_path,
            pool_path=group_path,
            notes=f"ported in from {port.current_carrier}",
        )
        session.add(number)
        session.flush()
        lifecycle.write_history(
            session, number, "port_in", None, "porting", f"port-in {port.id}", details
        )


def _porting(session: Session, port: PortIn) -> list[PhoneNumber]:
    numbers = [n for n in _existing(session, port.numbers, lock=True) if n.state == "porting"]
    if len(numbers) != len(port.numbers):
        raise Conflict(
            "Some of the port-in's numbers are no longer porting.",
            errors={"numbers": [f"{len(port.numbers) - len(numbers)} not in porting"]},
            state=port.state,
        )
    return sorted(numbers, key=lambda n: n.e164)


def _complete(session: Session, port: PortIn) -> None:
    missing = [s for s in port.steps if s not in port.steps_done]
    if missing:
        raise Conflict(
            "Steps of the port-in are not done.",
            errors={"steps": [f"Not done: {', '.join(missing)}."]},
            state=port.state,
        )
    sub = session.get(Subscription, port.subscription_id)
    if sub is None or sub.status != "active":
        raise Conflict(
            "The subscription is no longer active.",
            errors={"subscription_id": ["Numbers go to active subscriptions."]},
            state=port.state,
        )
    try:
        for number in _porting(session, port):
            allocate_to(
                session, number, sub, f"port-in {port.id} completed", action="complete_port",
                details={"port_in": port.id},
            )  # fmt: skip
    except Exception:
        session.rollback()
        raise


def _abandon(session: Session, port: PortIn, action: str, reason: str | None) -> None:
    """Rejected or cancelled after acceptance: the numbers never arrived; retire them."""
    for number in _porting(session, port):
        lifecycle.apply(
            session,
            number,
            "cancel_port",
            reason=f"port-in {port.id} {action}ed" + (f": {reason}" if reason else ""),
            details={"port_in": port.id},
        )


def _comment(port: PortIn, actor: Actor, text: str, system: bool = False) -> dict[str, Any]:
    entry = {"at": utcnow().isoformat(), "author": actor.label, "text": text, "system": system}
    port.comments = [*port.comments, entry]
    return entry


def add_comment(session: Session, port: PortIn, text: str, actor=None) -> PortIn:
    actor = actor or current_actor()
    require_write(actor)
    _comment(port, actor, text)
    session.commit()
    return port


def mark_step(session: Session, port: PortIn, step: str, done: bool = True, actor=None):
    actor = actor or current_actor()
    require(actor, "numbers.ports.work", "work port-in steps")
    if step not in port.steps:
        raise ValidationFailed(
            "Not a step of this port-in.",
            errors={"step": [f"Use one of: {', '.join(port.steps) or 'none configured'}."]},
        )
    if port.state in ("completed", "rejected", "cancelled"):
        _check(port, "schedule")  # the 409 naming the final state
    rest = [s for s in port.steps_done if s != step]
    port.steps_done = [s for s in port.steps if s in rest or (done and s == step)]
    _comment(port, actor, f"step {'done' if done else 'reopened'}: {step}", system=True)
    session.commit()
    return port


def add_document(session: Session, port: PortIn, data: dict[str, Any], actor=None):
    actor = actor or current_actor()
    require_write(actor)
    if port.state in ("completed", "rejected", "cancelled"):
        _check(port, "cancel")
    try:
        content = base64.b64decode(data["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(
            "The document is not base64.", errors={"content_base64": ["Not valid base64."]}
        ) from None
    if not content:
        raise ValidationFailed("Empty document.", errors={"content_base64": ["Empty file."]})
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed(
            "The document is too large.",
            errors={"content_base64": [f"At most {MAX_DOCUMENT_BYTES // 1024} KiB per document."]},
        )
    count = session.scalar(
        select(func.count()).select_from(PortDocument).where(PortDocument.port_in_id == port.id)
    )
    if count >= MAX_DOCUMENTS:
        raise ValidationFailed(
            "Too many documents.",
            errors={"content_base64": [f"At most {MAX_DOCUMENTS} documents per port-in."]},
        )
    doc = PortDocument(
        port_in_id=port.id,
        org_path=port.org_path,
        filename=data["filename"],
        content_type=data.get("content_type") or "application/octet-stream",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        uploaded_by=actor.label,
    )
    session.add(doc)
    session.commit()
    return doc


def documents(session: Session, port: PortIn) -> list[PortDocument]:
    return list(
        session.scalars(
            select(PortDocument)
            .where(PortDocument.port_in_id == port.id)
            .order_by(PortDocument.created_at, PortDocument.id)
        )
    )
