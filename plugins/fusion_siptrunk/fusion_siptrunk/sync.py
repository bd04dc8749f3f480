"""Provisioning: from the database's desired state to each SBC, by idempotent jobs.

* `request(session, trunk)` marks each of the trunk's access trunks `pending` and enqueues one
  `siptrunk.sync` job per (trunk, SBC), run after the commit. The job recomputes the trunk's
  state from the database (so a late or repeated job applies the newest state) and hands it to
  the SBC's driver; it marks the access trunk `in_sync`, or `failed` with the SBC's error and
  retries with back-off (FUSION_JOB_BACKOFF_SECONDS, FUSION_JOB_MAX_ATTEMPTS).
* `request_shared(session, sbc)`: the same for what the SBC holds for every trunk (carriers,
  the group's block list, calling plans): job `siptrunk.sync_shared`.
* `request_removal(session, key, sbc_id)`: job `siptrunk.remove` takes a deleted trunk (or
  access trunk) off an SBC.
* `reconcile(sbc_id)` (job `siptrunk.reconcile`, scheduled): compares every trunk the SBC
  should hold with what it holds (`driver.render` vs `driver.read_trunk`), marks drifted ones
  `out_of_sync`, repairs them, removes trunks the database no longer has, retries failed ones,
  and records a report on the SBC.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from fusion_core.catalog.models import Entitlement  # noqa: F401  (mapper configuration)
from fusion_core.db import session as db_session
from fusion_core.db import utcnow
from fusion_core.events import emit
from fusion_core.jobs import enqueue
from fusion_core.jobs.models import SyncStatus, mark
from fusion_siptrunk.models import AccessTrunk, CallingPlan, Did, ListEntry, Sbc, Trunk
from fusion_siptrunk.sbc import (
    CallingPlan as PlanState,
)
from fusion_siptrunk.sbc import (
    ClassRule,
    Destination,
    DidRoute,
    SbcUnavailable,
    SharedState,
    TrunkState,
)
from fusion_siptrunk.sbc import (
    Sbc as SbcConfig,
)

log = logging.getLogger("fusion.siptrunk")

SYNC_JOB = "siptrunk.sync"
SHARED_JOB = "siptrunk.sync_shared"
REMOVE_JOB = "siptrunk.remove"
RECONCILE_JOB = "siptrunk.reconcile"
SHARED_TARGET = "shared"
_QUEUED = "siptrunk.queued"


# --- drivers --------------------------------------------------------------------------------


def drivers() -> dict[str, Any]:
    """Registered SBC drivers by name (the plugin's own hookspec `register_sbc_drivers`)."""
    found = current_app.extensions.get("siptrunk.drivers")
    if found is None:
        found = {}
        pm = current_app.extensions["fusion.plugins"]
        for batch in pm.hook.register_sbc_drivers():
            for driver in batch or []:
                if driver.name in found:
                    raise RuntimeError(f"two plugins register the SBC driver {driver.name!r}")
                found[driver.name] = driver
        current_app.extensions["siptrunk.drivers"] = found
    return found


def driver_for(sbc: Sbc):
    try:
        return drivers()[sbc.driver]
    except KeyError:
        raise SbcUnavailable(f"no SBC driver {sbc.driver!r} is installed") from None


def config(sbc: Sbc) -> SbcConfig:
    return SbcConfig(
        name=sbc.name,
        driver=sbc.driver,
        locale=sbc.locale,
        signalling_host=sbc.signalling_host,
        signalling_port=sbc.signalling_port,
        settings=dict(sbc.settings or {}),
    )


# --- desired state --------------------------------------------------------------------------


def _national(e164: str, country_code: str, national_prefix: str) -> str:
    return national_prefix + e164[1 + len(country_code) :]


def present(e164: str, fmt: str, country_code: str, national_prefix="0", intl_prefix="00"):
    """An E.164 number as the PBX expects it (`format_in`)."""
    if fmt == "national" and e164.startswith("+" + country_code):
        return _national(e164, country_code, national_prefix)
    if fmt == "international":
        return intl_prefix + e164[1:]
    return e164


def dialing(country: str) -> tuple[str, str, str]:
    """(country code, national prefix, international prefix) of a country."""
    import phonenumbers

    code = str(phonenumbers.country_code_for_region(country))
    meta = phonenumbers.PhoneMetadata.metadata_for_region(country)
    national = (meta.national_prefix if meta else None) or ""
    intl = (meta.international_prefix if meta else None) or "00"
    if not intl.isdigit():
        intl = meta.preferred_international_prefix if meta else None
        intl = intl if intl and intl.isdigit() else "00"
    return code, national, intl


def trunk_state(session: Session, trunk: Trunk, access: AccessTrunk) -> TrunkState:
    from fusion_siptrunk import plans, services

    code, national, intl = dialing(trunk.country)
    inbound_here = access.direction in ("both", "inbound")
    outbound_here = access.direction in ("both", "outbound")
    dids = []
    for did in session.scalars(select(Did).where(Did.trunk_id == trunk.id).order_by(Did.e164)):
        target = did.rewrite_to or did.e164
        deliver = (
            present(target, trunk.format_in, code, national, intl) if target[0] == "+" else target
        )
        dids.append(
            DidRoute(
                e164=did.e164,
                deliver_as=deliver,
                divert_to=did.divert_to,
                dr_to=did.dr_destination,
                dr_active=did.dr_active,
            )
        )
    entries = session.scalars(select(ListEntry).where(ListEntry.trunk_id == trunk.id)).all()
    plan = plans.plan_for(session, services.group_path(trunk.org_path), trunk.country)
    view = services.trunk_plan(session, trunk)
    return TrunkState(
        key=trunk.key,
        name=trunk.name,
        subscription_key=trunk.subscription_id.hex,
        inbound=trunk.inbound_enabled and inbound_here,
        outbound=trunk.outbound_enabled and outbound_here,
        max_calls=trunk.max_calls,
        subscription_max_calls=services.subscription_limit(session, trunk.subscription_id),
        sources=tuple(access.sources) if outbound_here else (),
        destinations=(
            Destination(
                host=access.host,
                port=access.port,
                transport=access.transport,
                priority=access.priority,
                weight=access.weight,
                probe=access.options_ping,
            ),
        )
        if inbound_here
        else (),
        realm=access.realm,
        country_code=code,
        national_prefix=national,
        international_prefix=intl,
        format_in=trunk.format_in,
        format_out=trunk.format_out,
        dr_active=trunk.dr_active,
        dr_to=trunk.dr_destination,
        dids=tuple(dids),
        block=tuple(sorted(e.prefix for e in entries if e.kind == "block")),
        allow=tuple(sorted(e.prefix for e in entries if e.kind == "allow")),
        plan=plan.key,
        allowed_classes=tuple(sorted(c["key"] for c in view["classes"] if c["allowed"])),
    )


def shared_state(session: Session, sbc: Sbc) -> SharedState:
    block = session.scalars(
        select(ListEntry.prefix).where(
            ListEntry.trunk_id.is_(None),
            ListEntry.kind == "block",
            ListEntry.org_path == sbc.org_path,
        )
    ).all()
    plans = session.scalars(
        select(CallingPlan).where(CallingPlan.org_path == sbc.org_path).order_by(CallingPlan.key)
    ).all()
    return SharedState(
        carrier_sources=tuple(sbc.carrier_sources or ()),
        carrier_gateways=tuple(
            Destination(
                host=g["host"], port=g.get("port", 5060), transport=g.get("transport", "udp")
            )
            for g in sbc.carrier_gateways or ()
        ),
        block=tuple(sorted(block)),
        plans=tuple(
            PlanState(
                key=p.key,
                country=p.country,
                rules=tuple(
                    ClassRule(key=c["key"], pattern=c["pattern"], priority=i)
                    for i, c in enumerate(p.classes)
                ),
            )
            for p in plans
        ),
    )


# --- requests (inside the caller's transaction) ---------------------------------------------


def _once(session: Session, name: str, **kwargs: Any) -> None:
    queued = session.info.setdefault(_QUEUED, set())
    marker = (name, tuple(sorted(kwargs.items())))
    if marker in queued:
        return
    queued.add(marker)
    enqueue(session, name, **kwargs)


def _forget_queued(session: Session) -> None:
    session.info.pop(_QUEUED, None)


def request(session: Session, trunk: Trunk, only: list[AccessTrunk] | None = None) -> None:
    accesses = (
        only
        if only is not None
        else session.scalars(select(AccessTrunk).where(AccessTrunk.trunk_id == trunk.id)).all()
    )
    for access in accesses:
        sbc = session.get(Sbc, access.sbc_id)
        mark(session, access, "pending", target=sbc.name)
        _once(session, SYNC_JOB, trunk_id=str(trunk.id), sbc_id=str(sbc.id))


def request_shared(session: Session, sbc: Sbc) -> None:
    mark(session, sbc, "pending", target=SHARED_TARGET)
    _once(session, SHARED_JOB, sbc_id=str(sbc.id))


def request_removal(session: Session, key: int, sbc_id: uuid.UUID) -> None:
    _once(session, REMOVE_JOB, key=key, sbc_id=str(sbc_id))


def forget(session: Session, entity: AccessTrunk | Sbc) -> None:
    """Drop an access trunk's (or an SBC's) sync statuses with it."""
    for status in session.scalars(
        select(SyncStatus).where(
            SyncStatus.entity_type == type(entity).__tablename__,
            SyncStatus.entity_id == str(entity.id),
        )
    ):
        session.delete(status)


def statuses(session: Session, trunk: Trunk) -> dict[uuid.UUID, SyncStatus]:
    """The sync status of each of the trunk's access trunks, by access trunk id."""
    ids = [str(a.id) for a in trunk.access_trunks]
    if not ids:
        return {}
    rows = session.scalars(
        select(SyncStatus).where(
            SyncStatus.entity_type == "siptrunk_access_trunks", SyncStatus.entity_id.in_(ids)
        )
    )
    return {uuid.UUID(s.entity_id): s for s in rows}


_WORST = ("failed", "out_of_sync", "pending", "in_sync")


def overall(states: list[str]) -> str:
    """A trunk's status from its PoPs': the worst of them."""
    for state in _WORST:
        if state in states:
            return state
    return "pending"


# --- jobs -----------------------------------------------------------------------------------


def _fail(session: Session, entity: Any, target: str, exc: Exception) -> None:
    """Record the SBC's error now (visible while the job retries), then let the job retry."""
    session.rollback()
    _forget_queued(session)
    entity = session.merge(entity)
    mark(session, entity, "failed", target=target, error=str(exc)[:2000])
    session.commit()


def sync_trunk(trunk_id: str, sbc_id: str) -> None:
    session = db_session
    sbc = session.get(Sbc, uuid.UUID(sbc_id))
    trunk = session.get(Trunk, uuid.UUID(trunk_id))
    if sbc is None or trunk is None:
        return  # deleted since: its removal job takes it off the SBC
    access = session.scalar(
        select(AccessTrunk).where(AccessTrunk.trunk_id == trunk.id, AccessTrunk.sbc_id == sbc.id)
    )
    if access is None:
        return
    state = trunk_state(session, trunk, access)
    try:
        driver_for(sbc).apply_trunk(config(sbc), state)
    except SbcUnavailable as exc:
        _fail(session, access, sbc.name, exc)
        raise
    mark(session, access, "in_sync", target=sbc.name)


def sync_failed(error: str, trunk_id: str, sbc_id: str) -> None:
    session = db_session
    sbc = session.get(Sbc, uuid.UUID(sbc_id))
    access = session.scalar(
        select(AccessTrunk).where(
            AccessTrunk.trunk_id == uuid.UUID(trunk_id), AccessTrunk.sbc_id == uuid.UUID(sbc_id)
        )
    )
    if sbc is not None and access is not None:
        mark(session, access, "failed", target=sbc.name, error=error[:2000])


def sync_shared(sbc_id: str) -> None:
    session = db_session
    sbc = session.get(Sbc, uuid.UUID(sbc_id))
    if sbc is None:
        return
    try:
        driver_for(sbc).apply_shared(config(sbc), shared_state(session, sbc))
    except SbcUnavailable as exc:
        _fail(session, sbc, SHARED_TARGET, exc)
        raise
    mark(session, sbc, "in_sync", target=SHARED_TARGET)


def sync_shared_failed(error: str, sbc_id: str) -> None:
    sbc = db_session.get(Sbc, uuid.UUID(sbc_id))
    if sbc is not None:
        mark(db_session, sbc, "failed", target=SHARED_TARGET, error=error[:2000])


def remove(key: int, sbc_id: str) -> None:
    sbc = db_session.get(Sbc, uuid.UUID(sbc_id))
    if sbc is None:
        return
    still = db_session.scalar(
        select(AccessTrunk.id).join(Trunk).where(Trunk.key == key, AccessTrunk.sbc_id == sbc.id)
    )
    if still is not None:
        return  # provisioned again since
    driver_for(sbc).remove_trunk(config(sbc), key)


def reconcile(sbc_id: str | None = None) -> None:
    """Compare each SBC (or one) with the database, report drift and repair it."""
    session = db_session
    stmt = select(Sbc).where(Sbc.enabled.is_(True))
    if sbc_id:
        stmt = select(Sbc).where(Sbc.id == uuid.UUID(sbc_id))
    for sbc in session.scalars(stmt).all():
        report = reconcile_sbc(session, sbc)
        sbc.reconciled_at = utcnow()
        sbc.reconcile_report = report
        if report["drifted"] or report["orphans"] or report["shared_drift"]:
            emit(
                session,
                "siptrunk.drift",
                sbc.org_path,
                sbc=sbc.name,
                **{k: report[k] for k in ("drifted", "orphans", "shared_drift")},
            )
        session.commit()


def reconcile_sbc(session: Session, sbc: Sbc) -> dict[str, Any]:
    report: dict[str, Any] = {
        "at": utcnow().isoformat(),
        "checked": 0,
        "drifted": [],
        "repaired": [],
        "orphans": [],
        "shared_drift": False,
        "error": None,
    }
    driver, cfg = driver_for(sbc), config(sbc)
    accesses = session.scalars(select(AccessTrunk).where(AccessTrunk.sbc_id == sbc.id)).all()
    try:
        shared = shared_state(session, sbc)
        if driver.render_shared(cfg, shared) != driver.read_shared(cfg):
            report["shared_drift"] = True
            driver.apply_shared(cfg, shared)
        mark(session, sbc, "in_sync", target=SHARED_TARGET)
        wanted = set()
        for access in accesses:
            trunk = session.get(Trunk, access.trunk_id)
            wanted.add(trunk.key)
            state = trunk_state(session, trunk, access)
            report["checked"] += 1
            if driver.render(cfg, state) != driver.read_trunk(cfg, trunk.key):
                report["drifted"].append(trunk.name)
                mark(session, access, "out_of_sync", target=sbc.name, error="drift on the SBC")
                session.flush()
                driver.apply_trunk(cfg, state)
                report["repaired"].append(trunk.name)
            mark(session, access, "in_sync", target=sbc.name)
        for key in sorted(driver.trunk_keys(cfg) - wanted):
            driver.remove_trunk(cfg, key)
            report["orphans"].append(key)
    except SbcUnavailable as exc:
        report["error"] = str(exc)
        for access in accesses:
            mark(session, access, "failed", target=sbc.name, error=str(exc)[:2000])
    return report


def live_calls(session: Session, sbcs: list[Sbc]) -> tuple[dict[int, int], list[str]]:
    """Calls in progress by trunk key, summed over SBCs; and the SBCs that did not answer."""
    totals: dict[int, int] = {}
    missing = []
    for sbc in sbcs:
        try:
            counts = driver_for(sbc).live_calls(config(sbc))
        except SbcUnavailable:
            missing.append(sbc.name)
            continue
        for key, count in counts.items():
            totals[key] = totals.get(key, 0) + count
    return totals, missing


def last_reconcile(sbc: Sbc) -> dict[str, Any] | None:
    at: datetime | None = sbc.reconciled_at
    return {**(sbc.reconcile_report or {}), "at": at.isoformat()} if at else None
