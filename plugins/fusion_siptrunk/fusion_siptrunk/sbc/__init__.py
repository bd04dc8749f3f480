"""The SBC driver contract: what the SIP-trunk plugin asks of a session border controller.

The plugin computes, for every trunk and every SBC (point of presence) it is provisioned on,
a vendor-neutral `TrunkState`, and for every SBC a `SharedState` (carriers, the group's block
list, the calling-plan classification rules). A driver turns those into the SBC's own
configuration. Drivers are registered through the plugin's own hookspec
(`register_sbc_drivers`, see `fusion_siptrunk.hookspecs`), so further plugins can add vendors.

Every number in a state is E.164 with its leading "+"; prefixes are E.164 prefixes ("+44 9"
is written "+449"). The plugin resolves precedence (what is allowed, where a DID goes) so a
driver only has to enforce the state, in this order for a call from the carrier to a DID:

    unknown DID -> refuse (404)
    trunk inbound off -> refuse (403)
    trunk DR active -> DID's dr_to, else the trunk's dr_to, via the carrier
    DID DR active -> DID's dr_to, via the carrier
    DID divert_to -> via the carrier
    else the PBX destinations (priority, weight), R-URI user = deliver_as, capacity checked

and for a call from a PBX (source address of the trunk) to a destination:

    unknown source -> refuse (403)
    trunk outbound off -> refuse (403)
    number normalised to E.164 with the trunk's format_out
    shared.block prefix match -> refuse (403)
    trunk block prefix match -> refuse (403)
    trunk allow prefix match -> allowed (skips class checks)
    class = first matching rule of the trunk's plan; no class, or class not in allowed_classes
        -> refuse (403)
    capacity (trunk, then subscription) -> refuse (486) when full
    relay to the carrier gateway
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

TRANSPORTS = ("udp", "tcp", "tls")
FORMATS = ("e164", "national", "international")  # +441632960000, 01632960000, 00441632960000


@dataclass(frozen=True)
class Sbc:
    """Connection details of one SBC (one point of presence), as configured in Settings."""

    name: str  # unique, e.g. "lon-1"
    driver: str  # a registered driver's name, e.g. "kamailio"
    locale: str = ""  # e.g. "en-GB": where it is, for the portal
    signalling_host: str = ""  # the address PBXs and carriers send SIP to
    signalling_port: int = 5060
    settings: dict[str, Any] = field(default_factory=dict)  # driver-specific (db_url, rpc_url)


@dataclass(frozen=True)
class Destination:
    """Where the SBC sends a trunk's calls (a PBX, or a carrier gateway)."""

    host: str  # IP address or FQDN
    port: int = 5060
    transport: str = "udp"
    priority: int = 0  # lower is tried first
    weight: int = 50  # share among destinations of the same priority
    probe: bool = False  # SIP OPTIONS keep-alive; a destination that does not answer is skipped


@dataclass(frozen=True)
class DidRoute:
    e164: str  # the number the carrier sends, "+441632960001"
    deliver_as: str  # R-URI user sent to the PBX: rewritten and formatted (format_in)
    divert_to: str | None = None  # E.164: sent back out through the carrier instead
    dr_to: str | None = None  # E.164: this DID's disaster-recovery destination
    dr_active: bool = False  # this DID's own DR switch


@dataclass(frozen=True)
class ClassRule:
    """One destination class of a country's calling plan: E.164 numbers matching `pattern`
    (a regular expression anchored at the start, e.g. "^\\+447") are of class `key`."""

    key: str  # "national_fixed", "mobile", "premium", "toll_free", "international_zone1", ...
    pattern: str
    priority: int = 0  # rules are tried in ascending priority; the first match classifies


@dataclass(frozen=True)
class CallingPlan:
    key: int  # small integer, unique per SBC (e.g. a dialplan id)
    country: str  # ISO 3166 alpha-2
    rules: tuple[ClassRule, ...]


@dataclass(frozen=True)
class TrunkState:
    """Everything one SBC must know about one trunk."""

    key: int  # small positive integer unique among trunks (>= 100): group/set/profile key
    name: str
    subscription_key: str  # shared by the trunks of one subscription (its capacity profile)
    inbound: bool
    outbound: bool
    max_calls: int  # simultaneous calls of this trunk
    subscription_max_calls: int  # simultaneous calls of all trunks of the subscription
    sources: tuple[str, ...]  # addresses (IP or CIDR) allowed to send calls as this trunk
    destinations: tuple[Destination, ...]  # PBX side, for calls to the trunk's DIDs
    realm: str | None  # host part of the R-URI sent to the PBX (private realm); None = as is
    country_code: str  # "44": for national <-> E.164 conversion
    national_prefix: str  # "0"
    international_prefix: str  # "00"
    format_in: str  # how numbers are presented to the PBX (FORMATS)
    format_out: str  # how the PBX sends numbers (FORMATS); "+..." is always accepted
    dr_active: bool
    dr_to: str | None  # E.164 destination of the trunk's DR
    dids: tuple[DidRoute, ...]
    block: tuple[str, ...] = ()  # E.164 prefixes refused for calls from the PBX
    allow: tuple[str, ...] = ()  # E.164 prefixes allowed whatever their class
    plan: int = 0  # CallingPlan.key classifying this trunk's destinations
    allowed_classes: tuple[str, ...] = ()  # classes the PBX may call (barring and plan applied)


@dataclass(frozen=True)
class SharedState:
    """What an SBC holds for every trunk: carriers, group block list, calling plans."""

    carrier_sources: tuple[str, ...]  # addresses (IP or CIDR) the carrier sends calls from
    carrier_gateways: tuple[Destination, ...]  # where calls to the PSTN go
    block: tuple[str, ...]  # the group's block list: E.164 prefixes, applied first
    plans: tuple[CallingPlan, ...]


class SbcUnavailable(Exception):
    """The SBC could not be reached or refused the change; the message says what it said.
    The sync job retries with back-off; the status shows the message."""


class SbcDriver(Protocol):
    """A vendor's driver. Methods are called from jobs, never inside a web request, except
    `live_calls`, which the SIP capacity report reads while it answers: keep it to one quick
    query per SBC, bounded by a short timeout."""

    name: str

    def render(self, sbc: Sbc, state: TrunkState) -> dict[str, list[Any]]:
        """The SBC configuration `state` becomes, as comparable plain data (e.g. table ->
        sorted rows). `read_trunk` returns the same shape, so reconcile compares the two."""

    def apply_trunk(self, sbc: Sbc, state: TrunkState) -> None:
        """Make the SBC hold exactly `state` for trunk `state.key` and take it live.
        Idempotent: applying the same state twice changes nothing the second time."""

    def remove_trunk(self, sbc: Sbc, key: int) -> None:
        """Remove everything of trunk `key` from the SBC and take it live; idempotent."""

    def read_trunk(self, sbc: Sbc, key: int) -> dict[str, list[Any]]:
        """What the SBC holds now for trunk `key`, in `render`'s shape (empty when none)."""

    def trunk_keys(self, sbc: Sbc) -> set[int]:
        """The keys of every trunk the SBC holds (to find ones the database no longer has)."""

    def apply_shared(self, sbc: Sbc, shared: SharedState) -> None:
        """Make the SBC hold exactly `shared` and take it live; idempotent."""

    def render_shared(self, sbc: Sbc, shared: SharedState) -> dict[str, list[Any]]:
        """`shared` as comparable plain data, like `render`."""

    def read_shared(self, sbc: Sbc) -> dict[str, list[Any]]:
        """What the SBC holds now of the shared state, in `render_shared`'s shape."""

    def live_calls(self, sbc: Sbc) -> dict[int, int]:
        """Calls in progress right now, by trunk key (trunks with none may be absent)."""
