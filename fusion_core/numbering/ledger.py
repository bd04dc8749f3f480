"""The one place allocation talks to the entitlement ledger (fusion_core.catalog.ledger).

Allocating a number consumes one number entitlement of the subscription matching the
number's country and type (and vanity class, when it has one): SKU key
`number:<country>:<type>[:<vanity class>]`. The number itself is the holder, so releasing it
gives exactly that unit back. While the catalogue is not installed in this code base the
calls are no-ops (allocation then needs no entitlement).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fusion_core.db import Base


def _ledger() -> Any | None:
    if "entitlements" not in Base.metadata.tables:
        return None
    try:
        from fusion_core.catalog import ledger
    except ImportError:  # pragma: no cover - the catalogue ships with the core
        return None
    return ledger


def selector(number) -> str:
    parts = ("number", number.country, number.number_type, number.vanity_class)
    return ":".join(p for p in parts if p)


def consume_for(session: Session, subscription, number) -> None:
    """Take one matching entitlement for `number`; raises the ledger's 409 when none is left."""
    ledger = _ledger()
    if ledger is not None:
        ledger.consume(session, subscription, selector(number), 1, ("numbers", number.id))


def release_for(session: Session, number) -> None:
    ledger = _ledger()
    if ledger is not None:
        ledger.release(session, ("numbers", number.id))
