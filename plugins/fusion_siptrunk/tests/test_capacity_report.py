"""The SIP capacity report (`/api/v1/siptrunk/reports/capacity` and its portal page): channels
ordered (real orders through the catalogue), configured (trunks made by the service), the
subscription's limit and in use now (a test SBC driver's live counts), rolled up the
hierarchy, in JSON, CSV and XLSX, scoped to the reader.

The SBCs run a test driver registered through the plugin's hookspec `register_sbc_drivers`:
its `live_calls` returns the counts a test sets, or raises `SbcUnavailable` for an SBC marked
down. The real Kamailio `live_calls` is proven against Kamailio elsewhere.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fusion_siptrunk import services
from fusion_siptrunk.sbc import SbcUnavailable
from openpyxl import load_workbook

from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db
from fusion_core.hierarchy.models import Subscription
from fusion_core.hookspecs import hookimpl
from fusion_core.testing import PortalClient as Portal

DRIVER = "capacity-test"
REPORT = "siptrunk/reports/capacity"


class LiveDriver:
    """An SBC that accepts every change and reports the live calls a test sets; an SBC named
    in `down` does not answer `live_calls`. `asked` counts the reads per SBC."""

    name = DRIVER

    def __init__(self) -> None:
        self.calls: dict[str, dict[int, int]] = {}
        self.down: set[str] = set()
        self.asked: dict[str, int] = {}

    def render(self, sbc, state):
        return {"trunk": [repr(state)]}

    def apply_trunk(self, sbc, state) -> None:
        pass

    def remove_trunk(self, sbc, key) -> None:
        pass

    def read_trunk(self, sbc, key):
        return {}

    def trunk_keys(self, sbc) -> set[int]:
        return set()

    def apply_shared(self, sbc, shared) -> None:
        pass

    def render_shared(self, sbc, shared):
        return {"shared": [repr(shared)]}

    def read_shared(self, sbc):
        return {}

    def live_calls(self, sbc) -> dict[int, int]:
        self.asked[sbc.name] = self.asked.get(sbc.name, 0) + 1
        if sbc.name in self.down:
            raise SbcUnavailable(f"{sbc.name} does not answer")
        return dict(self.calls.get(sbc.name, {}))


class LiveDriverPlugin:
    def __init__(self, driver: LiveDriver) -> None:
        self.driver = driver

    @hookimpl
    def register_sbc_drivers(self):
        return [self.driver]


@pytest.fixture
def driver(app):
    driver = LiveDriver()
    pm = app.extensions["fusion.plugins"]
    plugin = LiveDriverPlugin(driver)
    pm.register(plugin, name="test-capacity-report-sbc")
    app.extensions.pop("siptrunk.drivers", None)
    try:
        yield driver
    finally:
        pm.unregister(plugin)
        app.extensions.pop("siptrunk.drivers", None)


class Rig:
    """group → distributor → reseller → tenant (subscriptions Main: 10 channels ordered, a
    limit of 8, trunks A (4 calls) and B (3); Spare: 2 channels, no trunk) and sibling
    reseller → sibling tenant (Other: 5 channels, trunk C (5) on pop-a only). Two SBCs."""

    def __init__(self, app, api, make, driver: LiveDriver) -> None:
        self.app, self.api, self.make, self.driver = app, api, make, driver
        self.tree = tree = make.tree()
        self.group = api.as_(make.admin(tree["group"]))
        self.sbcs = {name: self._sbc(name, f"192.0.2.{i + 1}") for i, name in enumerate("ab")}
        self.products = self._catalogue()
        self.main = self._subscription(tree["tenant"], "Main", channels=10, trunks=2)
        self.spare = self._subscription(tree["tenant"], "Spare", channels=2, trunks=0)
        self.other = self._subscription(tree["sibling_tenant"], "Other", channels=5, trunks=1)
        self.hosts = 10
        with app.app_context(), acting_as(SYSTEM):
            session = get_db().session
            services.set_subscription_limit(session, session.get(Subscription, self.main.id), 8)
            session.commit()
        self.keys = {
            "A": self._trunk(self.main, "A", 4),
            "B": self._trunk(self.main, "B", 3),
            "C": self._trunk(self.other, "C", 5, only="a"),
        }

    def _sbc(self, name: str, host: str) -> str:
        with self.app.app_context(), acting_as(SYSTEM):
            session = get_db().session
            sbc = services.create_sbc(
                session,
                {
                    "name": f"pop-{name}",
                    "driver": DRIVER,
                    "signalling_host": host,
                    "group_id": self.tree["group"].id,
                },
            )
            session.commit()
            return str(sbc.id)

    def _catalogue(self) -> dict[str, str]:
        products = {}
        for name, license_type in (("channels", "sip_channel"), ("trunks", "siptrunk_national")):
            sku = self.group.post(
                "skus",
                {
                    "name": name,
                    "kind": "license",
                    "license_type": license_type,
                    "external_reference": f"CAP-{name}",
                },
            )
            assert sku.status_code == 201, sku.json
            product = self.group.post(
                "products", {"name": name, "lines": [{"sku_id": sku.json["id"], "quantity": 1}]}
            )
            assert product.status_code == 201, product.json
            products[name] = product.json["id"]
        return products

    def _subscription(self, tenant, name: str, channels: int, trunks: int):
        sub = self.make.subscription(tenant, "siptrunk", name=name)
        quantities = {"channels": channels, "trunks": trunks}
        lines = [
            {"product_id": self.products[k], "quantity": q} for k, q in quantities.items() if q
        ]
        response = self.group.post(
            "orders", {"type": "change", "subscription_id": str(sub.id), "lines": lines}
        )
        assert response.status_code == 201, response.json
        return sub

    def _trunk(self, sub, name: str, max_calls: int, only: str | None = None) -> int:
        self.hosts += 1
        data: dict[str, Any] = {"name": name, "country": "IE", "max_calls": max_calls}
        host = f"198.51.100.{self.hosts}"
        if only:
            data["access_trunks"] = [{"sbc_id": self.sbcs[only], "host": host}]
        else:
            data["pbx_host"] = host
        with self.app.app_context(), acting_as(SYSTEM):
            session = get_db().session
            trunk = services.create_trunk(session, sub.id, data)
            session.commit()
            return trunk.key

    def live(self, **per_sbc: dict[str, int]) -> None:
        """Calls in progress: `live(a={"A": 2})` → pop-a carries 2 calls of trunk A."""
        self.driver.calls = {
            f"pop-{sbc}": {self.keys[t]: n for t, n in counts.items()}
            for sbc, counts in per_sbc.items()
        }

    def client(self, org: str, role: str = "admin"):
        return self.api.as_(self.make.admin(self.tree[org], role=role))


@pytest.fixture
def rig(app, api, make, driver) -> Rig:
    return Rig(app, api, make, driver)


def subscriptions(body: dict) -> dict[str, tuple]:
    return {
        r["subscription_name"]: (
            r["organization_name"],
            r["ordered"],
            r["configured"],
            r["subscription_limit"],
            r["in_use"],
            r["trunks"],
        )
        for r in body["rows"]
    }


def totals(rows: list[dict], *columns: str) -> dict[str, tuple]:
    return {r["organization_kind"] + ":" + r["organization_name"]: tuple(r[c] for c in columns)
            for r in rows}  # fmt: skip


def names(rig: Rig) -> dict[str, str]:
    t = rig.tree
    return {k: t[k].name for k in t}


SUB_SUMS = ("ordered", "configured", "subscription_limit", "in_use", "trunks")


# --- JSON -------------------------------------------------------------------------------------


def test_per_subscription_ordered_configured_limit_and_live_calls_rolled_up(rig):
    rig.live(a={"A": 2, "C": 1}, b={"A": 1, "B": 3})
    n = names(rig)

    response = rig.group.get(REPORT)

    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.json
    assert body["level"] == "subscription" and body["within"] == str(rig.tree["group"].id)
    assert body["unavailable"] == []
    assert subscriptions(body) == {
        "Main": (n["tenant"], 10, 7, 8, 6, 2),
        "Spare": (n["tenant"], 2, 0, 2, 0, 0),
        "Other": (n["sibling_tenant"], 5, 5, 5, 1, 1),
    }
    assert {r["row"] for r in body["rows"]} == {"subscription"}
    # the figures are the service's own
    with rig.app.app_context():
        session = get_db().session
        main = next(r for r in body["rows"] if r["subscription_name"] == "Main")
        assert main["subscription_limit"] == services.subscription_limit(session, rig.main.id)
        assert main["configured"] == services.channels_configured(session, rig.main.id)
        assert main["ordered"] == services.channels_ordered(session, rig.main.id)
    # totals: the group, its distributor, each reseller (the root first, then down)
    assert [t["organization_kind"] for t in body["totals"]] == [
        "group",
        "distributor",
        "reseller",
        "reseller",
    ]
    assert {t["row"] for t in body["totals"]} == {"total"}
    assert totals(body["totals"], *SUB_SUMS) == {
        f"group:{n['group']}": (17, 12, 15, 7, 3),
        f"distributor:{n['distributor']}": (17, 12, 15, 7, 3),
        f"reseller:{n['reseller']}": (12, 7, 10, 6, 2),
        f"reseller:{n['sibling_reseller']}": (5, 5, 5, 1, 1),
    }
    # each SBC was asked once for the whole report
    assert rig.driver.asked == {"pop-a": 1, "pop-b": 1}


def test_per_trunk_max_calls_and_in_use(rig):
    rig.live(a={"A": 2, "C": 1}, b={"A": 1, "B": 3})
    n = names(rig)

    body = rig.group.get(f"{REPORT}?level=trunk").json

    assert body["level"] == "trunk"
    assert {
        r["trunk_name"]: (r["subscription_name"], r["trunk_key"], r["max_calls"], r["in_use"])
        for r in body["rows"]
    } == {
        "A": ("Main", rig.keys["A"], 4, 3),
        "B": ("Main", rig.keys["B"], 3, 3),
        "C": ("Other", rig.keys["C"], 5, 1),
    }
    assert totals(body["totals"], "max_calls", "in_use") == {
        f"group:{n['group']}": (12, 7),
        f"distributor:{n['distributor']}": (12, 7),
        f"reseller:{n['reseller']}": (7, 6),
        f"reseller:{n['sibling_reseller']}": (5, 1),
    }
    assert rig.driver.asked == {"pop-a": 1, "pop-b": 1}


def test_an_sbc_that_does_not_answer_is_listed_and_its_trunks_in_use_unknown(rig):
    rig.live(a={"A": 2, "C": 1}, b={"A": 1, "B": 3})
    rig.driver.down = {"pop-b"}
    n = names(rig)

    body = rig.group.get(REPORT).json

    assert body["unavailable"] == ["pop-b"]
    # A and B are on pop-b too: their count is unknown, not pop-a's part; C is on pop-a only
    assert subscriptions(body) == {
        "Main": (n["tenant"], 10, 7, 8, None, 2),
        "Spare": (n["tenant"], 2, 0, 2, 0, 0),
        "Other": (n["sibling_tenant"], 5, 5, 5, 1, 1),
    }
    assert totals(body["totals"], "in_use") == {
        f"group:{n['group']}": (None,),
        f"distributor:{n['distributor']}": (None,),
        f"reseller:{n['reseller']}": (None,),
        f"reseller:{n['sibling_reseller']}": (1,),
    }
    trunks = rig.group.get(f"{REPORT}?level=trunk").json
    assert trunks["unavailable"] == ["pop-b"]
    assert {r["trunk_name"]: r["in_use"] for r in trunks["rows"]} == {"A": None, "B": None, "C": 1}


# --- CSV and XLSX -----------------------------------------------------------------------------


def test_csv_holds_the_rows_then_the_totals(rig):
    rig.live(a={"A": 2, "C": 1}, b={"A": 1, "B": 3})
    rig.driver.down = {"pop-b"}
    n = names(rig)

    response = rig.group.get(f"{REPORT}?format=csv")

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "sip-capacity-by-subscription.csv" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["row"] for r in rows] == ["subscription"] * 3 + ["total"] * 4
    by_sub = {
        r["subscription_name"]: tuple(r[c] for c in SUB_SUMS)
        for r in rows
        if r["subscription_name"]
    }
    assert by_sub == {  # in use unknown: an empty cell
        "Main": ("10", "7", "8", "", "2"),
        "Spare": ("2", "0", "2", "0", "0"),
        "Other": ("5", "5", "5", "1", "1"),
    }
    sums = {
        r["organization_name"]: tuple(r[c] for c in SUB_SUMS) for r in rows if r["row"] == "total"
    }
    assert sums[n["sibling_reseller"]] == ("5", "5", "5", "1", "1")
    assert sums[n["group"]] == ("17", "12", "15", "", "3")


def test_xlsx_holds_the_same_numbers(rig):
    rig.live(a={"A": 2, "C": 1}, b={"A": 1, "B": 3})
    n = names(rig)

    response = rig.group.get(f"{REPORT}?format=xlsx&level=trunk")

    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
    header, *data = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert header[:2] == ["row", "organization_id"] and "in_use" in header
    rows = [dict(zip(header, r, strict=True)) for r in data]
    assert {
        r["trunk_name"]: (r["max_calls"], r["in_use"]) for r in rows if r["row"] == "trunk"
    } == {"A": (4, 3), "B": (3, 3), "C": (5, 1)}
    assert {
        r["organization_name"]: (r["max_calls"], r["in_use"]) for r in rows if r["row"] == "total"
    } == {
        n["group"]: (12, 7),
        n["distributor"]: (12, 7),
        n["reseller"]: (7, 6),
        n["sibling_reseller"]: (5, 1),
    }


# --- scope ------------------------------------------------------------------------------------


def test_a_tenant_admin_sees_only_their_own_subscriptions(rig):
    rig.live(a={"A": 2, "C": 1}, b={"A": 1, "B": 3})
    tenant = rig.client("tenant")
    n = names(rig)

    body = tenant.get(REPORT).json

    assert set(subscriptions(body)) == {"Main", "Spare"}
    # their own total only: nothing above them, nothing of the sibling's
    assert totals(body["totals"], *SUB_SUMS) == {f"tenant:{n['tenant']}": (12, 7, 10, 6, 2)}
    # only the SBCs holding their trunks are asked... and both hold A and B
    assert rig.driver.asked == {"pop-a": 1, "pop-b": 1}
    trunks = tenant.get(f"{REPORT}?level=trunk&format=csv").get_data(as_text=True)
    assert {r["trunk_name"] for r in csv.DictReader(io.StringIO(trunks)) if r["trunk_name"]} == {
        "A",
        "B",
    }

    other = tenant.get(f"{REPORT}?within={rig.tree['sibling_tenant'].id}")
    assert other.status_code == 404, other.json
    assert other.json["errors"] == {"within": ["Not found."]}
    assert tenant.get(f"{REPORT}?within={rig.tree['reseller'].id}").status_code == 404


def test_within_narrows_the_report_to_a_subtree(rig):
    rig.live(a={"A": 2, "C": 1}, b={"A": 1, "B": 3})
    n = names(rig)

    body = rig.group.get(f"{REPORT}?within={rig.tree['sibling_reseller'].id}").json

    assert body["within"] == str(rig.tree["sibling_reseller"].id)
    assert subscriptions(body) == {"Other": (n["sibling_tenant"], 5, 5, 5, 1, 1)}
    assert totals(body["totals"], *SUB_SUMS) == {
        f"reseller:{n['sibling_reseller']}": (5, 5, 5, 1, 1)
    }
    # trunk C is on pop-a only: pop-b is not asked
    assert rig.driver.asked == {"pop-a": 1}


def test_read_only_admins_can_read_it_and_bad_arguments_are_named(rig):
    rig.live(a={"C": 1})
    reader = rig.client("reseller", role="read_only")

    body = reader.get(REPORT).json

    assert set(subscriptions(body)) == {"Main", "Spare"}
    assert [t["organization_kind"] for t in body["totals"]] == ["reseller"]
    bad = reader.get(f"{REPORT}?level=tenant&format=pdf")
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"level", "format"}, bad.json
    assert rig.api.get(REPORT).status_code == 401


# --- portal -----------------------------------------------------------------------------------


def test_the_portal_page_shows_the_table_totals_and_export_links(rig, app):
    rig.live(a={"A": 2, "C": 1}, b={"A": 1, "B": 3})
    rig.driver.down = {"pop-b"}
    admin = rig.make.admin(rig.tree["group"], role="read_only")
    client = Portal(app, admin).client

    page = client.get("/siptrunk/reports/capacity")

    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "SIP capacity" in html and 'id="capacity"' in html and 'id="capacity-totals"' in html
    assert "Not answering now: pop-b" in html
    assert "/siptrunk/reports/capacity/export?format=xlsx&amp;level=subscription" in html
    for name in ("Main", "Spare", "Other", rig.tree["distributor"].name):
        assert name in html
    exported = client.get("/siptrunk/reports/capacity/export?format=csv&level=trunk")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {r["trunk_name"]: r["in_use"] for r in rows if r["row"] == "trunk"} == {
        "A": "",
        "B": "",
        "C": "1",
    }
    as_json = client.get("/siptrunk/reports/capacity/export?format=json")
    assert as_json.json["unavailable"] == ["pop-b"]
    assert client.get(f"/siptrunk/reports/capacity?within={rig.main.id}").status_code == 404
