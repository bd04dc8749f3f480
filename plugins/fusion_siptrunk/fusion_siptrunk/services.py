"""SIP-trunk business rules: SBCs, trunks, access trunks, DIDs, capacity, call control.

Every function takes the session and acts as `current_actor()`; loads are scoped (an id out of
the actor's scope is a 404). Functions flush but do not commit, except where they call a core
service that commits (DID assignment); the API and portal views commit. Every change of what
an SBC must hold calls `sync.request(...)`, which enqueues the idempotent sync jobs.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any

import phonenumbers
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from fusion_core.catalog import ledger
from fusion_core.catalog.models import Entitlement, Sku
from fusion_core.context import Actor, current_actor
from fusion_core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.numbering import services as numbering
from fusion_core.numbering.models import PhoneNumber
from fusion_core.permissions import require, require_write
from fusion_core.scope import in_scope, load, scoped
from fusion_siptrunk import plans, sync
from fusion_siptrunk.models import (
    BARRING_CATEGORIES,
    DIRECTIONS,
    LICENCES,
    LIST_KINDS,
    TRUNK_KINDS,
    AccessTrunk,
    Capacity,
    Did,
    ListEntry,
    Sbc,
    TenantSettings,
    Trunk,
    keys,
)
from fusion_siptrunk.sbc import FORMATS, TRANSPORTS

PLATFORM = "siptrunk"
TARGET = "siptrunk.trunk"
CHANNEL_SKU = "sip_channel"
FIRST_KEY = 100  # trunk keys start here: SBC group/set 1 is the carrier


# --- permissions and loading ----------------------------------------------------------------


def is_upstream(actor: Actor, org_path: str) -> bool:
    """True for an administrator above the organisation owning `org_path` (or the system)."""
    if actor.unrestricted:
        return True
    return (
        bool(actor.org_path)
        and org_path.startswith(actor.org_path)
        and (actor.org_path != org_path)
    )


def group_path(path: str) -> str:
    return "/" + path.strip("/").split("/")[0] + "/"


def actor_group_path(session: Session, actor: Actor, group_id: uuid.UUID | None = None) -> str:
    """The group an action applies to: the actor's own, or `group_id` for the system."""
    if actor.org_path:
        return group_path(actor.org_path)
    if group_id is None:
        raise ValidationFailed("Name the group.", errors={"group_id": ["Required here."]})
    group = session.get(Organization, group_id)
    if group is None or group.kind != "group":
        raise NotFound(f"No group with id {group_id}.", errors={"group_id": ["Not found."]})
    return group.org_path


def get_trunk(session: Session, ident: Any, *, field: str = "id") -> Trunk:
    return load(Trunk, _uuid(ident), field=field)


def get_sbc(session: Session, ident: Any, *, field: str = "id") -> Sbc:
    return load(Sbc, _uuid(ident), field=field)


def _uuid(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return value
    return value


def _fail(field: str, message: str, summary: str | None = None) -> ValidationFailed:
    return ValidationFailed(summary or message, errors={field: [message]})


# --- field validation -----------------------------------------------------------------------

_FQDN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.I)


def check_host(value: Any, field: str) -> str:
    value = str(value or "").strip()
    if not value:
        raise _fail(field, "Required: an IP address or a host name.")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _FQDN.match(value):
        raise _fail(field, f"{value!r} is neither an IP address nor a fully qualified host name.")
    return value.lower()


def check_sources(values: Any, field: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list):
        raise _fail(field, "A list of IP addresses or networks (CIDR).")
    found = []
    for i, value in enumerate(values):
        try:
            found.append(str(ipaddress.ip_network(str(value).strip(), strict=False)))
        except ValueError:
            raise _fail(f"{field}.{i}", f"{value!r} is not an IP address or network.") from None
    return sorted(set(found))


def check_port(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise _fail(field, "A port number from 1 to 65535.")
    return value


def check_choice(value: Any, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise _fail(field, f"Use one of: {', '.join(choices)}.")
    return value


def check_e164(value: Any, field: str, *, optional: bool = True) -> str | None:
    if value in (None, ""):
        if optional:
            return None
        raise _fail(field, "Required: a number in E.164 form, e.g. +441632960000.")
    try:
        parsed = phonenumbers.parse(str(value), None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise _fail(field, f"{value!r} is not a number in E.164 form (+ and country code).")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def check_prefix(value: Any, field: str) -> str:
    text = re.sub(r"[\s().-]", "", str(value or ""))
    if not re.fullmatch(r"\+[1-9]\d{0,14}", text):
        raise _fail(field, f"{value!r} is not an E.164 prefix: '+', country code, more digits.")
    return text


def check_country(value: Any, field: str = "country") -> str:
    code = str(value or "").upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise _fail(field, f"{value!r} is not an ISO 3166 country code with a numbering plan.")
    return code


def check_count(value: Any, field: str, *, minimum: int = 1, maximum: int = 100_000) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise _fail(field, f"A whole number from {minimum} to {maximum}.")
    return value


def check_name(value: Any, field: str = "name", length: int = 100) -> str:
    text = str(value or "").strip()
    if not text:
        raise _fail(field, "Required.")
    if len(text) > length:
        raise _fail(field, f"At most {length} characters.")
    return text


# --- keys -----------------------------------------------------------------------------------


def next_key(session: Session) -> int:
    """A new small integer for an SBC: trunk keys and calling-plan ids never repeat."""
    value = session.execute(insert(keys).returning(keys.c.key)).scalar_one()
    return FIRST_KEY + value - 1


# --- SBCs -----------------------------------------------------------------------------------

SBC_FIELDS = ("name", "driver", "locale", "signalling_host", "signalling_port", "settings")


def _gateways(values: Any, field: str) -> list[dict[str, Any]]:
    if not isinstance(values, list):
        raise _fail(field, "A list of {host, port, transport}.")
    found = []
    for i, gw in enumerate(values):
        if not isinstance(gw, dict):
            raise _fail(f"{field}.{i}", "An object {host, port, transport}.")
        found.append(
            {
                "host": check_host(gw.get("host"), f"{field}.{i}.host"),
                "port": check_port(gw.get("port", 5060), f"{field}.{i}.port"),
                "transport": check_choice(
                    gw.get("transport", "udp"), TRANSPORTS, f"{field}.{i}.transport"
                ),
            }
        )
    return found


def _sbc_values(data: dict[str, Any], drivers: set[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = check_name(data["name"])
    if "driver" in data:
        if data["driver"] not in drivers:
            raise _fail(
                "driver", f"Use one of the installed drivers: {', '.join(sorted(drivers))}."
            )
        values["driver"] = data["driver"]
    if "locale" in data:
        values["locale"] = str(data["locale"] or "")[:20]
    if "signalling_host" in data:
        values["signalling_host"] = check_host(data["signalling_host"], "signalling_host")
    if "signalling_port" in data:
        values["signalling_port"] = check_port(data["signalling_port"], "signalling_port")
    if "settings" in data:
        if not isinstance(data["settings"], dict):
            raise _fail("settings", "An object of the driver's connection settings.")
        values["settings"] = data["settings"]
    if "carrier_sources" in data:
        values["carrier_sources"] = check_sources(data["carrier_sources"], "carrier_sources")
    if "carrier_gateways" in data:
        values["carrier_gateways"] = _gateways(data["carrier_gateways"], "carrier_gateways")
    if "enabled" in data:
        values["enabled"] = bool(data["enabled"])
    return values


def create_sbc(session: Session, data: dict[str, Any], actor: Actor | None = None) -> Sbc:
    actor = actor or current_actor()
    require(actor, "siptrunk.sbcs")
    path = actor_group_path(session, actor, data.get("group_id"))
    values = _sbc_values(data, set(sync.drivers()))
    for required in ("name", "signalling_host"):
        if required not in values:
            raise _fail(required, "Required.")
    _unique_sbc_name(session, path, values["name"])
    sbc = Sbc(org_path=path, driver=values.pop("driver", "kamailio"), **values)
    session.add(sbc)
    session.flush()
    sync.request_shared(session, sbc)
    return sbc


def _unique_sbc_name(session: Session, path: str, name: str, own: uuid.UUID | None = None):
    clash = session.scalar(select(Sbc.id).where(Sbc.org_path == path, Sbc.name == name))
    if clash is not None and clash != own:
        raise _fail("name", f"The group already has an SBC named {name!r}.")


def update_sbc(session: Session, sbc: Sbc, data: dict[str, Any], actor=None) -> Sbc:
    actor = actor or current_actor()
    require(actor, "siptrunk.sbcs")
    values = _sbc_values(data, set(sync.drivers()))
    if "name" in values:
        _unique_sbc_name(session, sbc.org_path, values["name"], sbc.id)
    for key, value in values.items():
        setattr(sbc, key, value)
    session.flush()
    sync.request_shared(session, sbc)
    for access in session.scalars(select(AccessTrunk).where(AccessTrunk.sbc_id == sbc.id)):
        sync.request(session, session.get(Trunk, access.trunk_id), only=[access])
    return sbc


def delete_sbc(session: Session, sbc: Sbc, actor=None) -> None:
    actor = actor or current_actor()
    require(actor, "siptrunk.sbcs")
    used = session.scalar(
        select(func.count()).select_from(AccessTrunk).where(AccessTrunk.sbc_id == sbc.id)
    )
    if used:
        raise Conflict(
            f"SBC {sbc.name} cannot be deleted: {used} access trunk(s) use it.",
            errors={"sbc": [f"{used} access trunk(s) use it: move or delete them first."]},
        )
    sync.forget(session, sbc)
    session.delete(sbc)
    session.flush()


def list_sbcs(session: Session, actor=None) -> list[Sbc]:
    return list(session.scalars(scoped(select(Sbc).order_by(Sbc.name), Sbc, actor)))


def group_sbcs(session: Session, path: str, *, enabled_only: bool = True) -> list[Sbc]:
    stmt = select(Sbc).where(Sbc.org_path == group_path(path)).order_by(Sbc.name)
    if enabled_only:
        stmt = stmt.where(Sbc.enabled.is_(True))
    return list(session.scalars(stmt))


# --- capacity -------------------------------------------------------------------------------


def channels_ordered(session: Session, subscription_id: uuid.UUID) -> int:
    stmt = (
        select(func.coalesce(func.sum(Entitlement.ordered), 0))
        .join(Sku, Sku.id == Entitlement.sku_id)
        .where(Entitlement.subscription_id == subscription_id, Sku.key == CHANNEL_SKU)
    )
    return int(session.scalar(stmt) or 0)


def channels_configured(session: Session, subscription_id: uuid.UUID) -> int:
    stmt = select(func.coalesce(func.sum(Trunk.max_calls), 0)).where(
        Trunk.subscription_id == subscription_id
    )
    return int(session.scalar(stmt) or 0)


def subscription_limit(session: Session, subscription_id: uuid.UUID) -> int:
    """Simultaneous calls of all the subscription's trunks together."""
    own = session.scalar(
        select(Capacity.max_calls).where(Capacity.subscription_id == subscription_id)
    )
    ordered = channels_ordered(session, subscription_id)
    return min(own, ordered) if own is not None else ordered


def capacity_of(session: Session, sub: Subscription) -> dict[str, Any]:
    own = session.scalar(select(Capacity).where(Capacity.subscription_id == sub.id))
    return {
        "subscription_id": sub.id,
        "ordered": channels_ordered(session, sub.id),
        "configured": channels_configured(session, sub.id),
        "max_calls": own.max_calls if own else None,
        "limit": subscription_limit(session, sub.id),
    }


def set_subscription_limit(session: Session, sub: Subscription, max_calls: int | None, actor=None):
    actor = actor or current_actor()
    require_write(actor)
    _siptrunk_subscription(sub, "subscription_id")
    if max_calls is not None:
        check_count(max_calls, "max_calls")
        ordered = channels_ordered(session, sub.id)
        busiest = session.scalar(
            select(func.max(Trunk.max_calls)).where(Trunk.subscription_id == sub.id)
        )
        if busiest and max_calls < busiest:
            raise _fail(
                "max_calls",
                f"At least {busiest}: a trunk of the subscription is allowed that many calls.",
                "The subscription limit is below a trunk's capacity.",
            )
        if max_calls > ordered:
            raise _fail(
                "max_calls",
                f"At most the {ordered} SIP channel(s) the subscription has ordered.",
                "The subscription limit exceeds its SIP channel entitlements.",
            )
    own = session.scalar(select(Capacity).where(Capacity.subscription_id == sub.id))
    if own is None:
        own = Capacity(subscription_id=sub.id, org_path=sub.org_path)
        session.add(own)
    own.max_calls = max_calls
    session.flush()
    for trunk in session.scalars(select(Trunk).where(Trunk.subscription_id == sub.id)):
        sync.request(session, trunk)
    return capacity_of(session, sub)


def _take_channels(session: Session, trunk: Trunk, sub: Subscription, count: int) -> None:
    ledger.release(session, ("siptrunk_channels", trunk.id))
    ledger.consume(session, sub, CHANNEL_SKU, count, ("siptrunk_channels", trunk.id))


# --- trunks ---------------------------------------------------------------------------------

TRUNK_FIELDS = (
    "name",
    "kind",
    "billing_id",
    "country",
    "format_in",
    "format_out",
    "inbound_enabled",
    "outbound_enabled",
    "max_calls",
    "dr_active",
    "dr_destination",
    "barred",
    "address_id",
)


def _siptrunk_subscription(sub: Subscription, field: str) -> None:
    if sub.platform != PLATFORM:
        raise _fail(field, f"A {sub.platform} subscription has no SIP trunks.")


def _trunk_values(
    session: Session, data: dict[str, Any], tenant_path: str, country: str | None = None
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = check_name(data["name"])
    if "kind" in data:
        values["kind"] = check_choice(data["kind"], TRUNK_KINDS, "kind")
    if "billing_id" in data:
        values["billing_id"] = (
            (str(data["billing_id"]).strip() or None) if data["billing_id"] is not None else None
        )
    if "licence" in data:
        values["licence"] = check_choice(data["licence"], LICENCES, "licence")
    if "country" in data:
        values["country"] = check_country(data["country"])
    for key in ("format_in", "format_out"):
        if key in data:
            values[key] = check_choice(data[key], FORMATS, key)
    for key in ("inbound_enabled", "outbound_enabled", "dr_active"):
        if key in data:
            if not isinstance(data[key], bool):
                raise _fail(key, "true or false.")
            values[key] = data[key]
    if "max_calls" in data:
        values["max_calls"] = check_count(data["max_calls"], "max_calls", maximum=10_000)
    if "dr_destination" in data:
        values["dr_destination"] = check_e164(data["dr_destination"], "dr_destination")
    if "barred" in data:
        barred = data["barred"]
        if not isinstance(barred, list) or any(b not in BARRING_CATEGORIES for b in barred):
            raise _fail("barred", f"A list of: {', '.join(BARRING_CATEGORIES)}.")
        values["barred"] = sorted(set(barred))
    if "address_id" in data:
        country = values.get("country") or country
        values["address_id"] = _address(
            session, data["address_id"], tenant_path, "address_id", country
        )
    return values


def _address(
    session: Session, value: Any, tenant_path: str, field: str, country: str | None
) -> uuid.UUID | None:
    """An address given to a trunk or DID: the tenant's own, and valid where `country`'s
    regulation requires one."""
    if value in (None, ""):
        return None
    from fusion_siptrunk import addresses

    tenant = session.get(Organization, uuid.UUID(tenant_path.rstrip("/").rsplit("/", 1)[-1]))
    address = addresses.ensure_usable(session, _uuid(value), tenant, country, field)
    return address.id if address is not None else None


def _check_dr(values: dict[str, Any], trunk: Trunk | None) -> None:
    active = values.get("dr_active", trunk.dr_active if trunk else False)
    dest = values.get("dr_destination", trunk.dr_destination if trunk else None)
    if active and not dest:
        raise _fail(
            "dr_destination",
            "Set a disaster-recovery destination before activating disaster recovery.",
        )


def _check_subscription_limit(session: Session, sub: Subscription, max_calls: int) -> None:
    limit = session.scalar(select(Capacity.max_calls).where(Capacity.subscription_id == sub.id))
    if limit is not None and max_calls > limit:
        raise _fail(
            "max_calls",
            f"At most the subscription's limit of {limit} simultaneous calls.",
            "The trunk's capacity exceeds its subscription's limit.",
        )


def create_trunk(session: Session, subscription_id: Any, data: dict[str, Any], actor=None) -> Trunk:
    """A trunk with its access trunks: one per given PoP, or (one click) on every SBC of the
    group, all pointing at `pbx_host`. Takes one trunk licence and `max_calls` channels."""
    actor = actor or current_actor()
    require_write(actor)
    sub = load(Subscription, _uuid(subscription_id), field="subscription_id")
    _siptrunk_subscription(sub, "subscription_id")
    for required in ("name",):
        if required not in data:
            raise _fail(required, "Required.")
    data = {**trunk_defaults(session, sub.tenant_id), **data}
    values = _trunk_values(session, data, sub.org_path)
    values.setdefault("kind", "ip_pbx")
    values.setdefault("licence", "national")
    values.setdefault("max_calls", 1)
    values.setdefault("country", _tenant_country(session, sub))
    _check_dr(values, None)
    _check_subscription_limit(session, sub, values["max_calls"])
    clash = session.scalar(
        select(Trunk.id).where(Trunk.subscription_id == sub.id, Trunk.name == values["name"])
    )
    if clash:
        raise _fail("name", f"The subscription already has a trunk named {values['name']!r}.")
    pops = _access_specs(session, data, sub.org_path, values["kind"])
    trunk = Trunk(subscription_id=sub.id, org_path=sub.org_path, key=next_key(session), **values)
    session.add(trunk)
    session.flush()
    ledger.consume(session, sub, f"siptrunk_{trunk.licence}", 1, trunk)
    _take_channels(session, trunk, sub, trunk.max_calls)
    for i, spec in enumerate(pops):
        _sources_free(session, spec, None, f"access_trunks.{i}.sources")
        session.add(AccessTrunk(trunk_id=trunk.id, org_path=trunk.org_path, **spec))
    session.flush()
    session.expire(trunk, ["access_trunks"])
    sync.request(session, trunk)
    return trunk


def _tenant_country(session: Session, sub: Subscription) -> str:
    """A new trunk's country when neither the request nor the tenant's settings name one."""
    return "GB"


# --- tenant settings ------------------------------------------------------------------------

SETTINGS_FIELDS = ("country", "format_in", "format_out", "address_id")


def tenant_settings(session: Session, tenant: Organization) -> TenantSettings:
    """The tenant's SIP-trunking defaults (unsaved defaults while it has none)."""
    if tenant.kind != "tenant":
        raise NotFound(f"No tenant with id {tenant.id}.", errors={"id": ["Not a tenant."]})
    found = session.scalar(select(TenantSettings).where(TenantSettings.tenant_id == tenant.id))
    return found or TenantSettings(
        tenant_id=tenant.id, org_path=tenant.org_path, format_in="e164", format_out="e164"
    )


def trunk_defaults(session: Session, tenant_id: uuid.UUID) -> dict[str, Any]:
    """What a new trunk of the tenant starts from, for the fields a request leaves out."""
    found = session.scalar(select(TenantSettings).where(TenantSettings.tenant_id == tenant_id))
    if found is None:
        return {}
    values = {key: getattr(found, key) for key in SETTINGS_FIELDS}
    return {key: value for key, value in values.items() if value is not None}


def update_tenant_settings(
    session: Session, tenant: Organization, data: dict[str, Any], actor=None
) -> TenantSettings:
    actor = actor or current_actor()
    require_write(actor)
    settings = tenant_settings(session, tenant)
    unknown = set(data) - set(SETTINGS_FIELDS)
    if unknown:
        raise _fail(sorted(unknown)[0], "Unknown field.")
    values: dict[str, Any] = {}
    if "country" in data:
        values["country"] = check_country(data["country"]) if data["country"] else None
    for key in ("format_in", "format_out"):
        if key in data:
            values[key] = check_choice(data[key], FORMATS, key)
    if "address_id" in data:
        country = values.get("country", settings.country)
        values["address_id"] = _address(
            session, data["address_id"], tenant.org_path, "address_id", country
        )
    for key, value in values.items():
        setattr(settings, key, value)
    if settings not in session:
        session.add(settings)
    session.flush()
    return settings


def _access_specs(session, data, tenant_path, kind) -> list[dict[str, Any]]:
    given = data.get("access_trunks")
    if given is None:
        if "pbx_host" not in data:
            raise _fail("pbx_host", "Required: the PBX's address (or list access_trunks).")
        sbcs = group_sbcs(session, tenant_path)
        if not sbcs:
            raise _fail(
                "access_trunks",
                "The group has no SBC yet: a group administrator adds one in Settings.",
                "No SBC to provision the trunk on.",
            )
        base = {
            key: data[key]
            for key in ("transport", "direction", "realm", "options_ping", "sources")
            if key in data
        }
        base["host"] = data["pbx_host"]
        base["port"] = data.get("pbx_port", 5061 if kind == "teams" else 5060)
        given = [{**base, "sbc_id": str(sbc.id), "priority": i} for i, sbc in enumerate(sbcs)]
    if not isinstance(given, list) or not given:
        raise _fail("access_trunks", "At least one access trunk (PoP).")
    specs, seen = [], set()
    for i, item in enumerate(given):
        if not isinstance(item, dict):
            raise _fail(f"access_trunks.{i}", "An object.")
        spec = _access_values(session, item, tenant_path, kind, f"access_trunks.{i}.", new=True)
        if spec["sbc_id"] in seen:
            raise _fail(f"access_trunks.{i}.sbc_id", "One access trunk per SBC.")
        seen.add(spec["sbc_id"])
        specs.append(spec)
    return specs


def _access_values(session, data, tenant_path, kind, prefix="", *, new=False) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if new or "sbc_id" in data:
        sbc = session.get(Sbc, _uuid(data.get("sbc_id")))
        if sbc is None or sbc.org_path != group_path(tenant_path):
            raise _fail(prefix + "sbc_id", "No SBC with that id in the tenant's group.")
        values["sbc_id"] = sbc.id
        values["locale"] = sbc.locale
    if new or "host" in data:
        values["host"] = check_host(data.get("host"), prefix + "host")
    if new or "port" in data:
        values["port"] = check_port(data.get("port", 5060), prefix + "port")
    default_transport = "tls" if kind == "teams" else "udp"
    if new or "transport" in data:
        values["transport"] = check_choice(
            data.get("transport", default_transport), TRANSPORTS, prefix + "transport"
        )
    if new or "direction" in data:
        values["direction"] = check_choice(
            data.get("direction", "both"), DIRECTIONS, prefix + "direction"
        )
    for key, default in (("options_ping", kind == "teams"),):
        if new or key in data:
            value = data.get(key, default)
            if not isinstance(value, bool):
                raise _fail(prefix + key, "true or false.")
            values[key] = value
    if "locale" in data:
        values["locale"] = str(data["locale"] or "")[:20]
    if new or "realm" in data:
        realm = data.get("realm")
        values["realm"] = check_host(realm, prefix + "realm") if realm else None
    for key, default, top in (("priority", 0, 1000), ("weight", 50, 100)):
        if new or key in data:
            values[key] = check_count(data.get(key, default), prefix + key, minimum=0, maximum=top)
    if new or "sources" in data:
        sources = data.get("sources")
        if sources is None and "host" in values:
            try:
                sources = [str(ipaddress.ip_address(values["host"]))]
            except ValueError:
                sources = []
        values["sources"] = check_sources(sources, prefix + "sources")
    if kind == "teams" and values.get("transport", "tls") != "tls":
        raise _fail(prefix + "transport", "Teams Direct Routing needs TLS.")
    return values


def _sources_free(session: Session, spec: dict[str, Any], trunk_id, field: str) -> None:
    """An SBC tells trunks apart by the source address of their calls: two trunks on one SBC
    cannot share a source."""
    mine = [ipaddress.ip_network(s) for s in spec.get("sources") or ()]
    if not mine:
        return
    stmt = (
        select(Trunk.name, AccessTrunk.sources)
        .join(Trunk, Trunk.id == AccessTrunk.trunk_id)
        .where(AccessTrunk.sbc_id == spec["sbc_id"])
    )
    if trunk_id is not None:
        stmt = stmt.where(AccessTrunk.trunk_id != trunk_id)
    for name, sources in session.execute(stmt):
        for other in sources or ():
            net = ipaddress.ip_network(other)
            if any(net.version == m.version and net.overlaps(m) for m in mine):
                raise _fail(
                    field,
                    f"{other} already sends calls as trunk {name} on this SBC: "
                    "each trunk needs source addresses of its own.",
                )


def update_trunk(session: Session, trunk: Trunk, data: dict[str, Any], actor=None) -> Trunk:
    actor = actor or current_actor()
    require_write(actor)
    if "licence" in data and data["licence"] != trunk.licence:
        raise _fail("licence", "A trunk's licence cannot change: create a new trunk.")
    values = _trunk_values(session, data, trunk.org_path, trunk.country)
    _check_dr(values, trunk)
    sub = session.get(Subscription, trunk.subscription_id)
    if "name" in values and values["name"] != trunk.name:
        clash = session.scalar(
            select(Trunk.id).where(Trunk.subscription_id == sub.id, Trunk.name == values["name"])
        )
        if clash:
            raise _fail("name", f"The subscription already has a trunk named {values['name']!r}.")
    if "max_calls" in values and values["max_calls"] != trunk.max_calls:
        _check_subscription_limit(session, sub, values["max_calls"])
        _take_channels(session, trunk, sub, values["max_calls"])
    for key, value in values.items():
        setattr(trunk, key, value)
    session.flush()
    sync.request(session, trunk)
    return trunk


def delete_trunk(session: Session, trunk: Trunk, actor=None) -> None:
    """Remove the trunk from every SBC, take its numbers off it, give back its licences."""
    actor = actor or current_actor()
    require_write(actor)
    for access in list(trunk.access_trunks):
        sync.request_removal(session, trunk.key, access.sbc_id)
    numbering.target_gone(session, TARGET, str(trunk.id))
    for did in session.scalars(select(Did).where(Did.trunk_id == trunk.id)):
        session.delete(did)
    for entry in session.scalars(select(ListEntry).where(ListEntry.trunk_id == trunk.id)):
        session.delete(entry)
    for access in session.scalars(select(AccessTrunk).where(AccessTrunk.trunk_id == trunk.id)):
        sync.forget(session, access)
        session.delete(access)
    ledger.release(session, trunk)
    ledger.release(session, ("siptrunk_channels", trunk.id))
    session.flush()
    session.delete(trunk)
    session.flush()


def list_trunks(session: Session, *, subscription_id=None, q=None, actor=None):
    stmt = scoped(select(Trunk), Trunk, actor)
    if subscription_id is not None:
        stmt = stmt.where(Trunk.subscription_id == subscription_id)
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            func.lower(Trunk.name).like(like) | func.lower(Trunk.billing_id).like(like)
        )
    return stmt.order_by(Trunk.name, Trunk.id)


# --- access trunks --------------------------------------------------------------------------


def add_access_trunk(session: Session, trunk: Trunk, data: dict[str, Any], actor=None):
    actor = actor or current_actor()
    require_write(actor)
    spec = _access_values(session, data, trunk.org_path, trunk.kind, new=True)
    if session.scalar(
        select(AccessTrunk.id).where(
            AccessTrunk.trunk_id == trunk.id, AccessTrunk.sbc_id == spec["sbc_id"]
        )
    ):
        raise _fail("sbc_id", "The trunk already has an access trunk on that SBC.")
    _sources_free(session, spec, trunk.id, "sources")
    access = AccessTrunk(trunk_id=trunk.id, org_path=trunk.org_path, **spec)
    session.add(access)
    session.flush()
    session.expire(trunk, ["access_trunks"])
    sync.request(session, trunk, only=[access])
    return access


def get_access_trunk(session: Session, trunk: Trunk, ident: Any) -> AccessTrunk:
    access = session.get(AccessTrunk, _uuid(ident)) if _is_uuid(ident) else None
    if access is None or access.trunk_id != trunk.id:
        raise NotFound(f"No access trunk {ident} on this trunk.", errors={"id": ["Not found."]})
    return access


def _is_uuid(value: Any) -> bool:
    return isinstance(_uuid(value), uuid.UUID)


def update_access_trunk(session: Session, access: AccessTrunk, data: dict[str, Any], actor=None):
    actor = actor or current_actor()
    require_write(actor)
    trunk = session.get(Trunk, access.trunk_id)
    if "sbc_id" in data and _uuid(data["sbc_id"]) != access.sbc_id:
        raise _fail("sbc_id", "An access trunk stays on its SBC: add one on the other SBC.")
    values = _access_values(session, data, trunk.org_path, trunk.kind)
    if "sources" in values:
        _sources_free(session, {**values, "sbc_id": access.sbc_id}, trunk.id, "sources")
    for key, value in values.items():
        setattr(access, key, value)
    session.flush()
    sync.request(session, trunk, only=[access])
    return access


def delete_access_trunk(session: Session, access: AccessTrunk, actor=None) -> None:
    actor = actor or current_actor()
    require_write(actor)
    trunk = session.get(Trunk, access.trunk_id)
    others = session.scalar(
        select(func.count())
        .select_from(AccessTrunk)
        .where(AccessTrunk.trunk_id == trunk.id, AccessTrunk.id != access.id)
    )
    if not others:
        raise Conflict(
            "A trunk keeps at least one access trunk: delete the trunk instead.",
            errors={"id": ["It is the trunk's last access trunk."]},
        )
    sync.request_removal(session, trunk.key, access.sbc_id)
    sync.forget(session, access)
    session.delete(access)
    session.flush()
    session.expire(trunk, ["access_trunks"])


# --- DIDs -----------------------------------------------------------------------------------

DID_FIELDS = ("pilot", "rewrite_to", "divert_to", "dr_destination", "dr_active", "address_id")


def _did_values(
    session: Session, data: dict[str, Any], trunk: Trunk, did: Did | None, country: str
):
    values: dict[str, Any] = {}
    if "pilot" in data:
        if not isinstance(data["pilot"], bool):
            raise _fail("pilot", "true or false.")
        values["pilot"] = data["pilot"]
    if "rewrite_to" in data:
        rewrite = data["rewrite_to"]
        if rewrite not in (None, ""):
            rewrite = str(rewrite).strip()
            if not re.fullmatch(r"\+?\d{1,20}", rewrite):
                raise _fail("rewrite_to", "Digits (an extension) or an E.164 number.")
            if rewrite.startswith("+"):
                rewrite = check_e164(rewrite, "rewrite_to")
        values["rewrite_to"] = rewrite or None
    for key in ("divert_to", "dr_destination"):
        if key in data:
            values[key] = check_e164(data[key], key)
    if "dr_active" in data:
        if not isinstance(data["dr_active"], bool):
            raise _fail("dr_active", "true or false.")
        values["dr_active"] = data["dr_active"]
    active = values.get("dr_active", did.dr_active if did else False)
    dest = values.get("dr_destination", did.dr_destination if did else None)
    if active and not dest:
        raise _fail("dr_destination", "Set this DID's disaster-recovery destination first.")
    if "address_id" in data:
        values["address_id"] = _address(
            session, data["address_id"], trunk.org_path, "address_id", country
        )
    return values


def _number_field(data: dict[str, Any]) -> str:
    """The body field naming the number: errors about the number name it."""
    return "number_id" if data.get("number_id") else "e164"


def _number_for(session: Session, data: dict[str, Any]) -> PhoneNumber:
    field = _number_field(data)
    if data.get("number_id"):
        ident = _uuid(data["number_id"])
    elif data.get("e164"):
        ident = check_e164(data["e164"], "e164", optional=False)
    else:
        raise _fail("number_id", "Name the number: number_id or e164.")
    try:
        return numbering.get_number(session, ident, lock=True)
    except NotFound as exc:
        raise NotFound(exc.message, errors={field: ["Not found in your scope."]}) from None


def add_did(session: Session, trunk: Trunk, data: dict[str, Any], actor=None) -> Did:
    """Assign one of the subscription's numbers to the trunk (through the core's assignment,
    target `siptrunk.trunk`); commits, like the core's assign."""
    actor = actor or current_actor()
    require_write(actor)
    number, field = _number_for(session, data), _number_field(data)
    if number.subscription_id != trunk.subscription_id:
        raise _fail(field, f"{number.e164} is not allocated to this trunk's subscription.")
    if number.target_type is not None:
        raise _fail(field, f"{number.e164} is already assigned ({number.target_type}).")
    values = _did_values(session, data, trunk, None, number.country)
    has_dids = session.scalar(select(Did.id).where(Did.trunk_id == trunk.id).limit(1))
    values.setdefault("pilot", has_dids is None)
    _require_address(session, trunk, number, values.get("address_id"))
    if values["pilot"]:
        _clear_pilot(session, trunk)
    did = Did(
        trunk_id=trunk.id, number_id=number.id, e164=number.e164, org_path=trunk.org_path, **values
    )
    session.add(did)
    session.flush()
    sync.request(session, trunk)
    numbering.assign(session, number, TARGET, str(trunk.id), actor=actor)  # commits
    return did


def _require_address(session, trunk: Trunk, number: PhoneNumber, address_id) -> None:
    from fusion_siptrunk import addresses

    if address_id is None and trunk.address_id is None and addresses.required_for(number.country):
        raise _fail(
            "address_id",
            f"{number.country} requires a validated emergency address for {number.e164}: "
            "give the DID or its trunk one.",
            "An emergency address is required.",
        )


def _clear_pilot(session: Session, trunk: Trunk) -> None:
    for other in session.scalars(select(Did).where(Did.trunk_id == trunk.id, Did.pilot.is_(True))):
        other.pilot = False


def get_did(session: Session, trunk: Trunk, ident: Any) -> Did:
    did = session.get(Did, _uuid(ident)) if _is_uuid(ident) else None
    if did is None or did.trunk_id != trunk.id:
        raise NotFound(f"No DID {ident} on this trunk.", errors={"id": ["Not found."]})
    return did


def update_did(session: Session, did: Did, data: dict[str, Any], actor=None) -> Did:
    actor = actor or current_actor()
    require_write(actor)
    trunk = session.get(Trunk, did.trunk_id)
    number = session.get(PhoneNumber, did.number_id)
    values = _did_values(session, data, trunk, did, number.country)
    if values.get("pilot"):
        _clear_pilot(session, trunk)
    for key, value in values.items():
        setattr(did, key, value)
    session.flush()
    sync.request(session, trunk)
    return did


def remove_did(session: Session, did: Did, actor=None) -> None:
    """Take the number off the trunk (it stays allocated to the subscription); commits."""
    actor = actor or current_actor()
    require_write(actor)
    trunk = session.get(Trunk, did.trunk_id)
    number = session.get(PhoneNumber, did.number_id)
    session.delete(did)
    session.flush()
    sync.request(session, trunk)
    if number.target_type == TARGET and number.target_ref == str(trunk.id):
        numbering.unassign(session, number, actor=actor)  # commits
    else:
        session.commit()


def list_dids(session: Session, trunk: Trunk, q: str | None = None):
    stmt = select(Did).where(Did.trunk_id == trunk.id)
    if q:
        stmt = stmt.where(Did.e164.like(q.strip().replace(" ", "") + "%"))
    return stmt.order_by(Did.pilot.desc(), Did.e164)


# number target `siptrunk.trunk` (core assignment): validate now, act in a job


def target_accepts(number: PhoneNumber, ref: str) -> str | None:
    from fusion_core.db import session

    trunk = session.get(Trunk, _uuid(ref)) if _is_uuid(ref) else None
    if trunk is None or not in_scope(trunk.org_path):
        return f"No SIP trunk with id {ref}."
    if trunk.subscription_id != number.subscription_id:
        return f"Trunk {trunk.name} belongs to another subscription than {number.e164}."
    return None


def target_act(number: PhoneNumber, action: str, ref: str) -> None:
    """After a commit (in a job): keep the trunk's DIDs in step with numbers assigned or
    unassigned through the core's number API, and sync the trunk."""
    from fusion_core.db import session

    trunk = session.get(Trunk, _uuid(ref)) if _is_uuid(ref) else None
    did = session.scalar(select(Did).where(Did.number_id == number.id))
    if action == "assign" and trunk is not None and did is None:
        first = session.scalar(select(Did.id).where(Did.trunk_id == trunk.id).limit(1)) is None
        session.add(
            Did(
                trunk_id=trunk.id,
                number_id=number.id,
                e164=number.e164,
                org_path=trunk.org_path,
                pilot=first,
            )
        )
    elif action == "unassign" and did is not None and number.target_type is None:
        session.delete(did)
    if trunk is not None:
        session.flush()
        sync.request(session, trunk)


# --- call control ---------------------------------------------------------------------------


def list_entries(session: Session, *, trunk: Trunk | None, kind: str, group: str | None = None):
    stmt = select(ListEntry).where(ListEntry.kind == kind)
    if trunk is not None:
        stmt = stmt.where(ListEntry.trunk_id == trunk.id)
    else:
        stmt = stmt.where(ListEntry.trunk_id.is_(None), ListEntry.org_path == group)
    return stmt.order_by(ListEntry.prefix)


def add_entry(session, *, trunk: Trunk | None, kind: str, data: dict[str, Any], actor=None):
    actor = actor or current_actor()
    check_choice(kind, LIST_KINDS, "kind")
    if trunk is None:
        require(actor, "siptrunk.group_lists")
        if kind != "block":
            raise _fail("kind", "The group keeps a block list only.")
        path = actor_group_path(session, actor, _uuid(data.get("group_id")))
    else:
        require_write(actor)
        path = trunk.org_path
    prefix = check_prefix(data.get("prefix"), "prefix")
    note = str(data.get("note") or "").strip()[:200] or None
    exists = session.scalar(
        select(ListEntry.id).where(
            ListEntry.org_path == path,
            ListEntry.kind == kind,
            ListEntry.prefix == prefix,
            ListEntry.trunk_id == trunk.id if trunk else ListEntry.trunk_id.is_(None),
        )
    )
    if exists:
        raise _fail("prefix", f"{prefix} is already on the {kind} list.")
    entry = ListEntry(
        trunk_id=trunk.id if trunk else None, kind=kind, prefix=prefix, note=note, org_path=path
    )
    session.add(entry)
    session.flush()
    _entries_changed(session, trunk, path)
    return entry


def remove_entry(session: Session, entry: ListEntry, actor=None) -> None:
    actor = actor or current_actor()
    trunk = session.get(Trunk, entry.trunk_id) if entry.trunk_id else None
    if trunk is None:
        require(actor, "siptrunk.group_lists")
    else:
        require_write(actor)
    session.delete(entry)
    session.flush()
    _entries_changed(session, trunk, entry.org_path)


def get_entry(session: Session, ident: Any, *, trunk: Trunk | None, kind: str) -> ListEntry:
    entry = load(ListEntry, _uuid(ident))
    if entry.kind != kind or entry.trunk_id != (trunk.id if trunk else None):
        raise NotFound(f"No {kind}-list entry {ident} here.", errors={"id": ["Not found."]})
    return entry


def _entries_changed(session: Session, trunk: Trunk | None, path: str) -> None:
    if trunk is not None:
        sync.request(session, trunk)
    else:
        for sbc in group_sbcs(session, path):
            sync.request_shared(session, sbc)


# --- calling plan ---------------------------------------------------------------------------


def trunk_plan(session: Session, trunk: Trunk) -> dict[str, Any]:
    """The trunk's calling plan: each class of its country's plan, with whether the trunk may
    call it, whether it is barred by category or licence, and whether it is locked."""
    plan = plans.plan_for(session, group_path(trunk.org_path), trunk.country)
    barred = set(trunk.barred) | ({"international"} if trunk.licence == "national" else set())
    rows = []
    for cls in plan.classes:
        setting = trunk.plan_settings.get(cls["key"], {})
        enabled = setting.get("enabled", cls.get("default", True))
        is_barred = cls["category"] in barred
        rows.append(
            {
                "key": cls["key"],
                "label": cls["label"],
                "category": cls["category"],
                "enabled": bool(enabled),
                "locked": bool(setting.get("locked", False)),
                "barred": is_barred,
                "allowed": bool(enabled) and not is_barred,
            }
        )
    return {"country": plan.country, "plan_key": plan.key, "classes": rows}


def update_trunk_plan(session: Session, trunk: Trunk, changes: dict[str, Any], actor=None):
    """`changes`: class key -> {"enabled": bool, "locked": bool}. Tenant administrators toggle
    unlocked classes; locking or unlocking, and changing a locked class, is for upstream
    administrators (the tenant's reseller, distributor or group)."""
    actor = actor or current_actor()
    require_write(actor)
    plan = plans.plan_for(session, group_path(trunk.org_path), trunk.country)
    known = {cls["key"] for cls in plan.classes}
    upstream = is_upstream(actor, trunk.org_path)
    settings = {key: dict(value) for key, value in trunk.plan_settings.items()}
    for key, change in changes.items():
        field = f"classes.{key}"
        if key not in known:
            raise _fail(field, f"No class {key!r} in the {plan.country} calling plan.")
        if not isinstance(change, dict) or not set(change) <= {"enabled", "locked"}:
            raise _fail(field, "An object with enabled and/or locked.")
        current = settings.get(key, {})
        if "locked" in change:
            if not upstream:
                raise Forbidden(
                    "Only your provider can lock or unlock a calling-plan class.",
                    errors={f"{field}.locked": ["Needs an upstream administrator."]},
                )
            current["locked"] = bool(change["locked"])
        if "enabled" in change:
            if settings.get(key, {}).get("locked") and not upstream:
                raise Forbidden(
                    f"The class {key} is locked by your provider.",
                    errors={f"{field}.enabled": ["Locked: ask your provider to change it."]},
                )
            current["enabled"] = bool(change["enabled"])
        settings[key] = current
    trunk.plan_settings = settings
    session.flush()
    sync.request(session, trunk)
    return trunk_plan(session, trunk)


# --- addresses in use -----------------------------------------------------------------------


def _address_users(session: Session, address) -> list[str]:
    """An address a trunk or a DID uses cannot be deleted."""
    reasons = [
        f"trunk {name} uses it"
        for name in session.scalars(select(Trunk.name).where(Trunk.address_id == address.id))
    ]
    reasons += [
        f"DID {e164} uses it"
        for e164 in session.scalars(select(Did.e164).where(Did.address_id == address.id))
    ]
    if session.scalar(select(TenantSettings.id).where(TenantSettings.address_id == address.id)):
        reasons.append("it is the tenant's default for new trunks (SIP-trunking settings)")
    return reasons


def _register_address_check() -> None:
    from fusion_siptrunk.addresses import services as address_services

    if _address_users not in address_services.IN_USE_CHECKS:
        address_services.in_use_check(_address_users)


_register_address_check()
