"""The number lifecycle: ONE transition table, and the function that applies it.

    imported --publish--> available --reserve--> reserved --allocate--> allocated
    available --allocate--> allocated --assign--> assigned --unassign--> allocated
    allocated --release--> aging --recycle--> available        (quarantine, group setting)
    reserved --unreserve--> available                           (by hand or on expiry)
    available --unpublish--> imported
    (port-in accepted) new number or retired --port_in--> porting
    porting --complete_port--> allocated, porting --cancel_port--> retired  (rejected, cancelled)
    imported | available | aging --retire--> retired

Every applied transition writes a row of the number's history (who, when, from, to, why), in
the same transaction as the change; the change itself is audited by the flush listener.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from fusion_core.context import current_actor
from fusion_core.db import utcnow
from fusion_core.errors import Conflict
from fusion_core.numbering.models import NumberHistory, PhoneNumber


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[str, ...]
    target: str
    description: str
    internal: bool = False  # taken by the system only (a port-in), never offered to a user


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("publish", ("imported",), "available", "offered for allocation"),
        Transition("unpublish", ("available",), "imported", "withdrawn from offer"),
        Transition("reserve", ("available",), "reserved", "held for a tenant, with an expiry"),
        Transition("unreserve", ("reserved",), "available", "hold cancelled or expired"),
        Transition("allocate", ("available", "reserved"), "allocated", "given to a subscription"),
        Transition("assign", ("allocated",), "assigned", "put on a service target"),
        Transition("unassign", ("assigned",), "allocated", "taken off its target"),
        Transition("release", ("allocated",), "aging", "returned; in quarantine"),
        Transition("recycle", ("aging",), "available", "quarantine over"),
        Transition("port_in", ("retired",), "porting", "being ported in (again)", internal=True),
        Transition("complete_port", ("porting",), "allocated", "port-in completed"),
        Transition("cancel_port", ("porting",), "retired", "port-in abandoned"),
        Transition("retire", ("imported", "available", "aging"), "retired", "out of service"),
    )
}


def allowed_actions(state: str, *, internal: bool = False) -> list[str]:
    return [
        t.action
        for t in TRANSITIONS.values()
        if state in t.sources and (internal or not t.internal)
    ]


def check(number: PhoneNumber, action: str) -> Transition:
    """The transition `action` from the number's current state, or a 409 naming that state."""
    transition = TRANSITIONS[action]
    if number.state not in transition.sources:
        possible = allowed_actions(number.state)
        raise Conflict(
            f"Number {number.e164} is {number.state}: it cannot be {_past(action)}.",
            errors={
                "state": [
                    f"The number is {number.state}; {action} needs it to be "
                    f"{' or '.join(transition.sources)}. From {number.state} you can: "
                    f"{', '.join(possible) or 'nothing'}."
                ]
            },
            state=number.state,
        )
    return transition


def _past(action: str) -> str:
    return {"reserve": "reserved", "assign": "assigned", "unassign": "unassigned"}.get(
        action, action.replace("_", " ") + ("d" if action.endswith("e") else "ed")
    )


def apply(
    session: Session,
    number: PhoneNumber,
    action: str,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    **changes: Any,
) -> PhoneNumber:
    """Move `number` along `action` (checked), set `changes`, and write its history row."""
    transition = check(number, action)
    before = number.state
    number.state = transition.target
    for key, value in changes.items():
        setattr(number, key, value)
    write_history(session, number, action, before, transition.target, reason, details)
    return number


def write_history(
    session: Session,
    number: PhoneNumber,
    action: str,
    from_state: str | None,
    to_state: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    actor = current_actor()
    session.execute(
        insert(NumberHistory),
        [
            {
                "number_id": number.id,
                "at": utcnow(),
                "actor_id": actor.admin_id,
                "actor": actor.label,
                "via": actor.via,
                "request_id": actor.request_id,
                "action": action,
                "from_state": from_state,
                "to_state": to_state,
                "reason": reason,
                "org_path": number.org_path,
                "details": {
                    k: str(v) if v is not None else None for k, v in (details or {}).items()
                },
            }
        ],
    )
