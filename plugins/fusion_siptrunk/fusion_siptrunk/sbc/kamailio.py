"""The reference driver: Kamailio 5.6 with the shipped `kamailio/kamailio.cfg`.

The driver writes the SBC's database (SQLite or PostgreSQL, `sbc.settings["db_url"]`, a
SQLAlchemy URL) and reloads the modules that read it over JSON-RPC
(`sbc.settings["rpc_url"]`, e.g. http://127.0.0.1:5081/RPC). How a state maps to rows:

    sources            address     grp = trunk key (carrier sources: grp 1)
    destinations       dispatcher  setid = trunk key (carrier gateways: set 1); priority is
                                   negated (Kamailio tries higher first), attrs "weight=N"
                                   (the first priority level's weights scaled to 100,
                                   other levels 1: see dispatch_shares),
                                   flags 8 = probe with OPTIONS, ";transport=tcp|tls" in the URI
    trunk settings     sbc_trunk   htable "trunk": "<key>:in", "<key>:max", ... (kamailio.cfg
                                   lists them), allowed classes "<key>:class:<class>"
    DIDs               sbc_did     htable "did": "<e164>:t" (trunk key), ":as", ":div", ":dr", ":drto"
    block/allow        sbc_prefix  htable "prefix": "block:<prefix>" (shared),
                                   "<key>:block:<prefix>", "<key>:allow:<prefix>"
    calling plans      dialplan    dpid = plan key, pr = rule priority, attrs = class key

Rows of the htable-format tables carry the trunk key in a `trunk` column (0 = shared), so
applying one trunk never touches another's rows.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import urllib.error
import urllib.request
from importlib import resources
from typing import Any

from sqlalchemy import Engine, create_engine, inspect, text

from fusion_siptrunk.sbc import (
    Destination,
    Sbc,
    SbcUnavailable,
    SharedState,
    TrunkState,
)

CARRIER = 1  # address group and dispatcher set of the carriers
SHARED = 0  # the `trunk` column of shared htable rows
STRING, INTEGER = 0, 1  # htable value_type
HTABLES = {"sbc_trunk": "trunk", "sbc_did": "did", "sbc_prefix": "prefix"}  # table -> htable
RPC_TIMEOUT = 5.0

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_schema_ready: set[str] = set()
RELOADS = {
    "address": ("permissions.addressReload",),
    "dispatcher": ("dispatcher.reload",),
    "dialplan": ("dialplan.reload",),
    **{table: ("htable.reload", name) for table, name in HTABLES.items()},
}  # SBC table -> the JSON-RPC call that makes Kamailio reread it


def engine_for(db_url: str) -> Engine:
    """One engine per SBC database for the life of the process."""
    with _engines_lock:
        engine = _engines.get(db_url)
        if engine is None:
            engine = create_engine(db_url, pool_pre_ping=True)
            _engines[db_url] = engine
        return engine


def schema_sql(dialect: str) -> str:
    name = "schema-postgres.sql" if dialect == "postgresql" else "schema-sqlite.sql"
    return resources.files("fusion_siptrunk").joinpath("kamailio", name).read_text()


def ensure_schema(engine: Engine) -> None:
    """Create the SBC tables when missing (every statement of the schema can run again)."""
    key = str(engine.url)
    if key in _schema_ready:
        return
    if not inspect(engine).has_table("sbc_reload_pending"):  # the schema's last table
        sql = "\n".join(
            line
            for line in schema_sql(engine.dialect.name).splitlines()
            if not line.startswith("--")
        )
        with engine.begin() as conn:
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(text(statement))
    _schema_ready.add(key)


# --- rendering ------------------------------------------------------------------------------


def _address_rows(grp: int, sources: tuple[str, ...], tag: str) -> list[tuple]:
    rows = []
    for source in sources:
        net = ipaddress.ip_network(source.strip(), strict=False)
        rows.append((grp, str(net.network_address), net.prefixlen, 0, tag))
    return rows


def destination_uri(dest: Destination) -> str:
    host = f"[{dest.host}]" if ":" in dest.host else dest.host
    uri = f"sip:{host}:{dest.port}"
    return uri if dest.transport == "udp" else f"{uri};transport={dest.transport}"


def _dispatcher_rows(setid: int, dests: tuple[Destination, ...], description: str) -> list[tuple]:
    return [
        (
            setid,
            destination_uri(d),
            8 if d.probe else 0,
            -d.priority,  # Kamailio orders a set by descending priority; ours: lower first
            f"weight={share}",
            description,
        )
        for d, share in zip(dests, dispatch_shares(dests), strict=True)
    ]


def dispatch_shares(dests: tuple[Destination, ...]) -> list[int]:
    """Priority first, then weight, as in DNS SRV: the destinations of the lowest priority value
    share the calls by weight, the others take calls only when those fail (the failover goes on
    from the chosen destination down the set, in priority order, then wraps round to the ones
    listed before it). Kamailio's weighted algorithm (9) ignores priority:
    it fills 100 slots with each destination's weight in the set's order (priority first) and
    ignores what lies past 100. So the first level's weights are scaled to sum to exactly 100
    and every other level gets 1, the least Kamailio accepts, which never gets a slot."""
    if not dests:
        return []
    top = min(d.priority for d in dests)
    level = [i for i, d in enumerate(dests) if d.priority == top]
    weights = [dests[i].weight for i in level]
    total = sum(weights)
    if total <= 0:  # every weight 0: an even split
        weights, total = [1] * len(level), len(level)
    shares = [1] * len(dests)
    for i, w in zip(level, weights, strict=True):
        shares[i] = 100 * w // total
    # what rounding left goes to the heaviest, so the level still sums to 100
    heaviest = level[weights.index(max(weights))]
    shares[heaviest] += 100 - sum(shares[i] for i in level)
    return shares


def _ht(key: str, value: Any) -> tuple:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return (key, INTEGER, str(value))
    return (key, STRING, str(value))


def _trunk_rows(state: TrunkState) -> list[tuple]:
    k = state.key
    rows = [
        _ht(f"{k}:in", state.inbound),
        _ht(f"{k}:out", state.outbound),
        _ht(f"{k}:max", state.max_calls),
        _ht(f"{k}:sub", state.subscription_key),
        _ht(f"{k}:submax", state.subscription_max_calls),
        _ht(f"{k}:dr", state.dr_active),
        _ht(f"{k}:cc", state.country_code),
        _ht(f"{k}:np", state.national_prefix),
        _ht(f"{k}:ip", state.international_prefix),
        _ht(f"{k}:fin", state.format_in),
        _ht(f"{k}:fout", state.format_out),
        _ht(f"{k}:plan", state.plan),
    ]
    if state.dr_to:
        rows.append(_ht(f"{k}:drto", state.dr_to))
    if state.realm:
        rows.append(_ht(f"{k}:realm", state.realm))
    rows += [_ht(f"{k}:class:{c}", 1) for c in sorted(set(state.allowed_classes))]
    return rows


def _did_rows(state: TrunkState) -> list[tuple]:
    rows = []
    for did in state.dids:
        rows += [_ht(f"{did.e164}:t", state.key), _ht(f"{did.e164}:as", did.deliver_as)]
        rows.append(_ht(f"{did.e164}:dr", did.dr_active))
        if did.dr_to:
            rows.append(_ht(f"{did.e164}:drto", did.dr_to))
        if did.divert_to:
            rows.append(_ht(f"{did.e164}:div", did.divert_to))
    return rows


def _prefix_rows(state: TrunkState) -> list[tuple]:
    rows = [_ht(f"{state.key}:block:{p}", 1) for p in set(state.block)]
    return rows + [_ht(f"{state.key}:allow:{p}", 1) for p in set(state.allow)]


def _dialplan_rows(shared: SharedState) -> list[tuple]:
    return [
        (plan.key, rule.priority, 1, rule.pattern, 0, "", "", rule.key)
        for plan in shared.plans
        for rule in plan.rules
    ]


def _sorted(tables: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    return {name: sorted(set(rows)) for name, rows in tables.items()}


# --- the driver -----------------------------------------------------------------------------

ADDRESS_COLS = ("grp", "ip_addr", "mask", "port", "tag")
DISPATCHER_COLS = ("setid", "destination", "flags", "priority", "attrs", "description")
DIALPLAN_COLS = (
    "dpid", "pr", "match_op", "match_exp", "match_len", "subst_exp", "repl_exp", "attrs",
)  # fmt: skip
HT_COLS = ("key_name", "value_type", "key_value")


class KamailioDriver:
    name = "kamailio"

    # --- plumbing ---

    def _engine(self, sbc: Sbc) -> Engine:
        url = sbc.settings.get("db_url")
        if not url:
            raise SbcUnavailable(f"SBC {sbc.name}: settings.db_url is not set")
        engine = engine_for(url)
        try:
            ensure_schema(engine)
        except Exception as exc:  # the database of the SBC is down or refuses us
            raise SbcUnavailable(f"SBC {sbc.name}: database {engine.url!r}: {exc}") from exc
        return engine

    def rpc(self, sbc: Sbc, method: str, *params: Any) -> Any:
        """One JSON-RPC call; any failure is SbcUnavailable naming the SBC and the method."""
        url = sbc.settings.get("rpc_url")
        if not url:
            raise SbcUnavailable(f"SBC {sbc.name}: settings.rpc_url is not set")
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})
        request = urllib.request.Request(
            url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=RPC_TIMEOUT) as response:
                answer = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SbcUnavailable(f"SBC {sbc.name}: {method} at {url} failed: {reason}") from exc
        if "error" in answer:
            error = answer["error"]
            raise SbcUnavailable(
                f"SBC {sbc.name}: {method} refused: {error.get('code')} {error.get('message')}"
            )
        return answer.get("result")

    def _reload(self, sbc: Sbc, tables: set[str]) -> None:
        """Reload the modules reading `tables`, and any whose last reload failed.

        `_replace` marks each table it changes in `sbc_reload_pending`, in the transaction of
        the change; the mark is cleared once the reload answered. A retry (in another process:
        rq runs each job in a fresh work horse) finds the rows already equal and writes nothing,
        but the mark makes it reload what the failed attempt left unreloaded."""
        engine = self._engine(sbc)
        try:
            with engine.connect() as conn:
                todo = set(tables) | {
                    name
                    for (name,) in conn.execute(text("SELECT table_name FROM sbc_reload_pending"))
                }
        except Exception as exc:
            raise SbcUnavailable(f"SBC {sbc.name}: reading its database failed: {exc}") from exc
        for table in [t for t in RELOADS if t in todo]:  # a fixed order: addresses first
            self.rpc(sbc, *RELOADS[table])
            try:
                with engine.begin() as conn:
                    conn.execute(
                        text("DELETE FROM sbc_reload_pending WHERE table_name = :t"), {"t": table}
                    )
            except Exception as exc:
                raise SbcUnavailable(f"SBC {sbc.name}: writing its database failed: {exc}") from exc

    def _replace(
        self, sbc: Sbc, wanted: dict[str, list[tuple]], where: dict[str, tuple]
    ) -> set[str]:
        """Replace the rows selected by `where` (table -> (sql, params)) with `wanted` in one
        transaction; returns the tables whose rows changed (nothing is written when equal)."""
        engine = self._engine(sbc)
        changed = set()
        try:
            with engine.begin() as conn:
                for table, rows in wanted.items():
                    cols, extra = self._columns(table)
                    cond, params = where[table]
                    current = sorted(
                        set(
                            tuple(r)
                            for r in conn.execute(
                                text(f"SELECT {', '.join(cols)} FROM {table} WHERE {cond}"), params
                            )
                        )
                    )
                    if current == rows:
                        continue
                    changed.add(table)
                    conn.execute(text(f"DELETE FROM {table} WHERE {cond}"), params)
                    conn.execute(
                        text("DELETE FROM sbc_reload_pending WHERE table_name = :t"), {"t": table}
                    )
                    conn.execute(
                        text("INSERT INTO sbc_reload_pending (table_name) VALUES (:t)"),
                        {"t": table},
                    )
                    if rows:
                        if table in HTABLES:
                            extra = {**extra, "trunk": params.get("k", SHARED)}
                        names = list(cols) + list(extra)
                        conn.execute(
                            text(
                                f"INSERT INTO {table} ({', '.join(names)}) "
                                f"VALUES ({', '.join(':' + n for n in names)})"
                            ),
                            [
                                dict(zip(names, row + tuple(extra.values()), strict=True))
                                for row in rows
                            ],
                        )
        except SbcUnavailable:
            raise
        except Exception as exc:
            raise SbcUnavailable(f"SBC {sbc.name}: writing its database failed: {exc}") from exc
        return changed

    @staticmethod
    def _columns(table: str) -> tuple[tuple[str, ...], dict[str, Any]]:
        if table == "address":
            return ADDRESS_COLS, {}
        if table == "dispatcher":
            return DISPATCHER_COLS, {}
        if table == "dialplan":
            return DIALPLAN_COLS, {}
        return HT_COLS, {"key_type": 0, "expires": 0}

    @staticmethod
    def _trunk_where(key: int) -> dict[str, tuple]:
        return {
            "address": ("grp = :k", {"k": key}),
            "dispatcher": ("setid = :k", {"k": key}),
            **{t: ("trunk = :k", {"k": key}) for t in HTABLES},
        }

    def _read(self, sbc: Sbc, where: dict[str, tuple]) -> dict[str, list[tuple]]:
        engine = self._engine(sbc)
        out = {}
        try:
            with engine.connect() as conn:
                for table, (cond, params) in where.items():
                    cols, _ = self._columns(table)
                    rows = conn.execute(
                        text(f"SELECT {', '.join(cols)} FROM {table} WHERE {cond}"), params
                    )
                    out[table] = sorted(set(tuple(r) for r in rows))
        except Exception as exc:
            raise SbcUnavailable(f"SBC {sbc.name}: reading its database failed: {exc}") from exc
        return out

    # --- trunks ---

    def render(self, sbc: Sbc, state: TrunkState) -> dict[str, list[Any]]:
        tag = f"trunk:{state.key}"
        return _sorted(
            {
                "address": _address_rows(state.key, state.sources, tag),
                "dispatcher": _dispatcher_rows(state.key, state.destinations, state.name[:64]),
                "sbc_trunk": _trunk_rows(state),
                "sbc_did": _did_rows(state),
                "sbc_prefix": _prefix_rows(state),
            }
        )

    def apply_trunk(self, sbc: Sbc, state: TrunkState) -> None:
        if state.key <= CARRIER:
            raise ValueError(f"trunk key {state.key} collides with the carriers' group")
        changed = self._replace(sbc, self.render(sbc, state), self._trunk_where(state.key))
        self._reload(sbc, changed)

    def remove_trunk(self, sbc: Sbc, key: int) -> None:
        empty = {t: [] for t in ("address", "dispatcher", *HTABLES)}
        changed = self._replace(sbc, empty, self._trunk_where(key))
        self._reload(sbc, changed)

    def read_trunk(self, sbc: Sbc, key: int) -> dict[str, list[Any]]:
        return self._read(sbc, self._trunk_where(key))

    def trunk_keys(self, sbc: Sbc) -> set[int]:
        engine = self._engine(sbc)
        sql = (
            "SELECT grp FROM address WHERE grp > 1 UNION SELECT setid FROM dispatcher "
            "WHERE setid > 1 UNION SELECT trunk FROM sbc_trunk WHERE trunk > 0 "
            "UNION SELECT trunk FROM sbc_did WHERE trunk > 0 "
            "UNION SELECT trunk FROM sbc_prefix WHERE trunk > 0"
        )
        try:
            with engine.connect() as conn:
                return {int(k) for (k,) in conn.execute(text(sql))}
        except Exception as exc:
            raise SbcUnavailable(f"SBC {sbc.name}: reading its database failed: {exc}") from exc

    # --- shared ---

    _shared_where = {
        "address": ("grp = 1", {}),
        "dispatcher": ("setid = 1", {}),
        "dialplan": ("1 = 1", {}),
        "sbc_prefix": ("trunk = 0", {}),
    }

    def render_shared(self, sbc: Sbc, shared: SharedState) -> dict[str, list[Any]]:
        return _sorted(
            {
                "address": _address_rows(CARRIER, shared.carrier_sources, "carrier"),
                "dispatcher": _dispatcher_rows(CARRIER, shared.carrier_gateways, "carrier"),
                "dialplan": _dialplan_rows(shared),
                "sbc_prefix": [_ht(f"block:{p}", 1) for p in shared.block],
            }
        )

    def apply_shared(self, sbc: Sbc, shared: SharedState) -> None:
        changed = self._replace(sbc, self.render_shared(sbc, shared), self._shared_where)
        self._reload(sbc, changed)

    def read_shared(self, sbc: Sbc) -> dict[str, list[Any]]:
        return self._read(sbc, self._shared_where)

    # --- calls ---

    def live_calls(self, sbc: Sbc) -> dict[int, int]:
        calls = {}
        for key in sorted(self.trunk_keys(sbc)):
            size = int(self.rpc(sbc, "dlg.profile_get_size", "trunk", str(key)) or 0)
            if size:
                calls[key] = size
        return calls
