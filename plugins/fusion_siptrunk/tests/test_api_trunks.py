"""The SIP-trunk REST API (`/api/v1/siptrunk/...`), through HTTP with real tokens, the real
catalogue (SKUs, products, orders), the core's number inventory and the sync jobs (eager).

No SBC is needed here: the SBCs are configured with an in-memory driver registered by a
test-only plugin through the plugin's hookspec `register_sbc_drivers`. It records what each
sync job hands it, so the tests can assert what an SBC was told. The real Kamailio driver is
proven end to end in `e2e/` and `sip/`.
"""

from __future__ import annotations

from typing import Any

import pytest

from fusion_core.hookspecs import hookimpl

ADDRESS = {
    "label": "Head office",
    "country": "GB",
    "street_lines": ["10 Downing Street"],
    "city": "London",
    "postal_code": "SW1A 2AA",
}
NUMBERS = ["+442079460101", "+442079460102", "+442079460103"]


class MemorySbc:
    """An SBC driver keeping what it is told in memory: `trunks[(sbc, key)]` is the last
    `TrunkState` applied, `shared[sbc]` the last `SharedState`."""

    name = "memory"

    def __init__(self) -> None:
        self.trunks: dict[tuple[str, int], Any] = {}
        self.shared: dict[str, Any] = {}
        self.removed: list[tuple[str, int]] = []
        self.down: set[str] = set()

    def _check(self, sbc) -> None:
        from fusion_siptrunk.sbc import SbcUnavailable

        if sbc.name in self.down:
            raise SbcUnavailable(f"{sbc.name} does not answer")

    def render(self, sbc, state):
        return {"state": [repr(state)]}

    def apply_trunk(self, sbc, state):
        self._check(sbc)
        self.trunks[(sbc.name, state.key)] = state

    def remove_trunk(self, sbc, key):
        self._check(sbc)
        self.trunks.pop((sbc.name, key), None)
        self.removed.append((sbc.name, key))

    def read_trunk(self, sbc, key):
        self._check(sbc)
        state = self.trunks.get((sbc.name, key))
        return self.render(sbc, state) if state is not None else {}

    def trunk_keys(self, sbc):
        self._check(sbc)
        return {key for (name, key) in self.trunks if name == sbc.name}

    def apply_shared(self, sbc, shared):
        self._check(sbc)
        self.shared[sbc.name] = shared

    def render_shared(self, sbc, shared):
        return {"shared": [repr(shared)]}

    def read_shared(self, sbc):
        self._check(sbc)
        shared = self.shared.get(sbc.name)
        return self.render_shared(sbc, shared) if shared is not None else {}

    def live_calls(self, sbc):
        return {}


class MemorySbcPlugin:
    def __init__(self, driver: MemorySbc) -> None:
        self.driver = driver

    @hookimpl
    def register_sbc_drivers(self):
        return [self.driver]


@pytest.fixture
def sbc_driver(app):
    driver = MemorySbc()
    pm = app.extensions["fusion.plugins"]
    plugin = MemorySbcPlugin(driver)
    pm.register(plugin, name="test-memory-sbc")
    app.extensions.pop("siptrunk.drivers", None)
    yield driver
    pm.unregister(plugin)
    app.extensions.pop("siptrunk.drivers", None)


class Rig:
    """A group with two memory SBCs and a catalogue; a tenant with a SIP-trunking subscription
    that ordered one national trunk licence and 4 SIP channels, three GB numbers allocated to
    it, and a validated emergency address. Clients of the group, reseller and tenant admins."""

    def __init__(self, app, api, make, driver: MemorySbc) -> None:
        self.app, self.api, self.make, self.driver = app, api, make, driver
        self.tree = make.tree()
        self.group = api.as_(make.admin(self.tree["group"]))
        self.reseller = api.as_(make.admin(self.tree["reseller"]))
        self.tenant = api.as_(make.admin(self.tree["tenant"]))
        self.sbc_ids = [self.add_sbc(f"pop-{i}", f"192.0.2.{i + 1}")["id"] for i in range(2)]
        self.subscription = make.subscription(self.tree["tenant"], "siptrunk", name="Trunks")
        self.sub_id = str(self.subscription.id)
        self._catalogue()
        self.order(trunk_national=1, channels=4, numbers=len(NUMBERS))
        self._numbers()
        response = self.tenant.post(
            "siptrunk/addresses", {"tenant_id": str(self.tree["tenant"].id), **ADDRESS}
        )
        assert response.status_code == 201 and response.json["status"] == "valid", response.json
        self.address_id = response.json["id"]

    def add_sbc(self, name: str, host: str) -> dict:
        body = {
            "name": name,
            "driver": "memory",
            "locale": "en-GB",
            "signalling_host": host,
            "settings": {"db_url": "secret://x", "rpc_url": "http://sbc/rpc"},
            "carrier_sources": ["198.51.100.0/24"],
            "carrier_gateways": [{"host": "198.51.100.10"}],
        }
        response = self.group.post("siptrunk/sbcs", body)
        assert response.status_code == 201, response.json
        return response.json

    def _catalogue(self) -> None:
        self.products = {}
        skus = {
            "trunk_national": {"kind": "license", "license_type": "siptrunk_national"},
            "trunk_international": {"kind": "license", "license_type": "siptrunk_international"},
            "channels": {"kind": "license", "license_type": "sip_channel"},
            "numbers": {"kind": "number", "country": "GB", "number_type": "geographic"},
        }
        for name, body in skus.items():
            sku = self.group.post(
                "skus", {"name": name, "external_reference": f"REF-{name}", **body}
            )
            assert sku.status_code == 201, sku.json
            product = self.group.post(
                "products", {"name": name, "lines": [{"sku_id": sku.json["id"], "quantity": 1}]}
            )
            assert product.status_code == 201, product.json
            self.products[name] = product.json["id"]

    def order(self, **quantities: int) -> None:
        lines = [{"product_id": self.products[k], "quantity": q} for k, q in quantities.items()]
        response = self.group.post(
            "orders", {"type": "change", "subscription_id": self.sub_id, "lines": lines}
        )
        assert response.status_code == 201, response.json

    def _numbers(self) -> None:
        response = self.group.post(
            "number-imports", {"rows": [{"number": n} for n in NUMBERS], "publish": True}
        )
        assert response.status_code == 201, response.json
        for number in NUMBERS:
            response = self.group.post(
                f"numbers/{number}/allocate", {"subscription_id": self.sub_id}
            )
            assert response.status_code == 200, response.json

    def entitlements(self) -> dict[str, tuple[int, int]]:
        response = self.group.get(f"subscriptions/{self.sub_id}/entitlements")
        assert response.status_code == 200, response.json
        return {e["external_reference"]: (e["ordered"], e["consumed"]) for e in response.json}

    def create_trunk(self, client=None, expect: int = 201, **changes) -> dict:
        body = {
            "subscription_id": self.sub_id,
            "name": "Head office PBX",
            "country": "GB",
            "pbx_host": "203.0.113.5",
            "max_calls": 2,
            "address_id": self.address_id,
            **changes,
        }
        response = (client or self.tenant).post("siptrunk/trunks", body)
        assert response.status_code == expect, response.json
        return response.json

    def add_did(self, trunk: dict, e164: str, expect: int = 201, **body) -> dict:
        response = self.tenant.post(f"siptrunk/trunks/{trunk['id']}/dids", {"e164": e164, **body})
        assert response.status_code == expect, response.json
        return response.json

    def trunk(self, trunk_id: str, client=None) -> dict:
        response = (client or self.tenant).get(f"siptrunk/trunks/{trunk_id}")
        assert response.status_code == 200, response.json
        return response.json

    def number(self, e164: str) -> dict:
        response = self.group.get(f"numbers/{e164}")
        assert response.status_code == 200, response.json
        return response.json


@pytest.fixture
def rig(app, api, make, sbc_driver) -> Rig:
    return Rig(app, api, make, sbc_driver)


# --- trunks ---------------------------------------------------------------------------------


def test_a_one_click_trunk_is_on_every_sbc_and_in_sync(rig):
    trunk = rig.create_trunk()

    assert trunk["name"] == "Head office PBX" and trunk["key"] >= 100
    assert [a["sbc"] for a in trunk["access_trunks"]] == ["pop-0", "pop-1"]
    assert {a["host"] for a in trunk["access_trunks"]} == {"203.0.113.5"}
    assert {a["sources"][0] for a in trunk["access_trunks"]} == {"203.0.113.5/32"}
    assert trunk["sync"]["state"] == "in_sync"
    assert [(p["sbc"], p["state"], p["error"]) for p in trunk["sync"]["pops"]] == [
        ("pop-0", "in_sync", None),
        ("pop-1", "in_sync", None),
    ]
    assert all(p["last_synced_at"] for p in trunk["sync"]["pops"])
    assert trunk["did_count"] == 0 and trunk["pilot"] is None

    # what each SBC was told
    for sbc in ("pop-0", "pop-1"):
        state = rig.driver.trunks[(sbc, trunk["key"])]
        assert state.name == "Head office PBX" and state.max_calls == 2
        assert state.sources == ("203.0.113.5/32",)
        assert [d.host for d in state.destinations] == ["203.0.113.5"]
        assert state.subscription_max_calls == 4
        assert "international_zone1" not in state.allowed_classes  # national licence
        assert "mobile" in state.allowed_classes

    got = rig.tenant.get(f"siptrunk/trunks/{trunk['id']}")
    assert got.headers["ETag"] == f'"{trunk["id"].replace("-", "")}-{trunk["version"]}"'
    assert got.json["sync"] == trunk["sync"]


def test_a_trunk_takes_its_licence_and_channels_and_refuses_when_none_are_left(rig):
    assert rig.entitlements()["REF-trunk_national"] == (1, 0)
    rig.create_trunk(max_calls=3)
    ent = rig.entitlements()
    assert ent["REF-trunk_national"] == (1, 1) and ent["REF-channels"] == (4, 3)

    refused = rig.create_trunk(name="Second", pbx_host="203.0.113.6", max_calls=1, expect=409)
    assert refused["code"] == "entitlement_exhausted"
    assert refused["sku"] == "siptrunk_national", refused
    assert "siptrunk_national" in refused["message"]

    no_intl = rig.create_trunk(name="Intl", pbx_host="203.0.113.6", licence="international",
                               expect=409)  # fmt: skip
    assert no_intl["sku"] == "siptrunk_international"

    rig.order(trunk_national=1)
    too_many = rig.create_trunk(name="Second", pbx_host="203.0.113.6", max_calls=2, expect=409)
    assert too_many["sku"] == "sip_channel" and too_many["available"] == 1, too_many
    # nothing was taken by the refused attempts
    ent = rig.entitlements()
    assert ent["REF-trunk_national"] == (2, 1) and ent["REF-channels"] == (4, 3)
    listed = rig.tenant.get("siptrunk/trunks").json
    assert listed["total"] == 1


def test_max_calls_above_the_subscription_limit_is_refused_naming_the_field(rig):
    response = rig.tenant.request(
        "PUT", f"siptrunk/subscriptions/{rig.sub_id}/capacity", json={"max_calls": 3}
    )
    assert response.status_code == 200, response.json
    assert response.json == {
        "subscription_id": rig.sub_id,
        "ordered": 4,
        "configured": 0,
        "max_calls": 3,
        "limit": 3,
    }
    refused = rig.create_trunk(max_calls=4, expect=422)
    assert "max_calls" in refused["errors"], refused
    trunk = rig.create_trunk(max_calls=3)
    patch = rig.tenant.patch(f"siptrunk/trunks/{trunk['id']}", {"max_calls": 4})
    assert patch.status_code == 422 and "max_calls" in patch.json["errors"], patch.json

    over = rig.tenant.request(
        "PUT", f"siptrunk/subscriptions/{rig.sub_id}/capacity", json={"max_calls": 5}
    )
    assert over.status_code == 422 and "max_calls" in over.json["errors"], over.json
    back = rig.tenant.request(
        "PUT", f"siptrunk/subscriptions/{rig.sub_id}/capacity", json={"max_calls": None}
    )
    assert back.json["limit"] == 4 and back.json["configured"] == 3, back.json
    assert rig.driver.trunks[("pop-0", trunk["key"])].subscription_max_calls == 4


def test_a_trunk_is_changed_with_if_match_and_validation_names_the_field(rig):
    trunk = rig.create_trunk()
    stale = rig.tenant.patch(
        f"siptrunk/trunks/{trunk['id']}", {"inbound_enabled": False}, headers={"If-Match": '"x-1"'}
    )
    assert stale.status_code == 412, stale.json
    etag = rig.tenant.get(f"siptrunk/trunks/{trunk['id']}").headers["ETag"]
    response = rig.tenant.patch(
        f"siptrunk/trunks/{trunk['id']}",
        {"inbound_enabled": False, "max_calls": 3},
        headers={"If-Match": etag},
    )
    assert response.status_code == 200, response.json
    assert response.json["inbound_enabled"] is False and response.json["max_calls"] == 3
    assert response.headers["ETag"] != etag
    assert rig.entitlements()["REF-channels"] == (4, 3)
    assert rig.driver.trunks[("pop-1", trunk["key"])].inbound is False

    for body, field in (
        ({"dr_active": True}, "dr_destination"),
        ({"dr_destination": "12"}, "dr_destination"),
        ({"licence": "international"}, "licence"),
        ({"kind": "fax"}, "kind"),
        ({"colour": "red"}, "colour"),
    ):
        bad = rig.tenant.patch(f"siptrunk/trunks/{trunk['id']}", body)
        assert bad.status_code == 422 and field in bad.json["errors"], (body, bad.json)

    bad_pop = rig.create_trunk(name="Other", pbx_host="not a host", expect=422)
    assert "access_trunks.0.host" in bad_pop["errors"], bad_pop


def test_trunks_are_listed_searched_and_paginated(rig):
    rig.order(trunk_national=2)
    for name, host in (("Alpha", "203.0.113.7"), ("Beta", "203.0.113.8"), ("Gamma", "203.0.113.9")):
        rig.create_trunk(name=name, pbx_host=host, max_calls=1, billing_id=f"B-{name}")
    page = rig.tenant.get("siptrunk/trunks?per_page=2").json
    assert page["total"] == 3 and page["pages"] == 2
    assert [t["name"] for t in page["items"]] == ["Alpha", "Beta"]
    assert page["items"][0]["sync"]["state"] == "in_sync"
    assert len(page["items"][0]["access_trunks"]) == 2
    assert [t["name"] for t in rig.tenant.get("siptrunk/trunks?q=b-gam").json["items"]] == ["Gamma"]
    desc = rig.tenant.get(f"siptrunk/trunks?subscription_id={rig.sub_id}&sort=-name").json
    assert [t["name"] for t in desc["items"]] == ["Gamma", "Beta", "Alpha"]
    bad = rig.tenant.get("siptrunk/trunks?sort=colour")
    assert bad.status_code == 422 and "sort" in bad.json["errors"]


# --- access trunks --------------------------------------------------------------------------


def test_access_trunks_are_added_changed_and_removed(rig):
    trunk = rig.create_trunk(
        access_trunks=[{"sbc_id": rig.sbc_ids[0], "host": "203.0.113.5", "priority": 1}]
    )
    assert [a["sbc"] for a in trunk["access_trunks"]] == ["pop-0"]
    path = f"siptrunk/trunks/{trunk['id']}/access-trunks"
    added = rig.tenant.post(path, {"sbc_id": rig.sbc_ids[1], "host": "203.0.113.5"})
    assert added.status_code == 201, added.json
    assert added.json["sbc"] == "pop-1" and added.json["sync"]["state"] == "in_sync"
    assert ("pop-1", trunk["key"]) in rig.driver.trunks
    again = rig.tenant.post(path, {"sbc_id": rig.sbc_ids[1], "host": "203.0.113.5"})
    assert again.status_code == 422 and "sbc_id" in again.json["errors"]

    listed = rig.tenant.get(path).json
    assert listed["total"] == 2
    changed = rig.tenant.patch(f"{path}/{added.json['id']}", {"realm": "pbx.example.com"})
    assert changed.status_code == 200 and changed.json["realm"] == "pbx.example.com"
    assert rig.driver.trunks[("pop-1", trunk["key"])].realm == "pbx.example.com"

    gone = rig.tenant.delete(f"{path}/{added.json['id']}")
    assert gone.status_code == 204
    assert ("pop-1", trunk["key"]) in rig.driver.removed
    last = rig.tenant.delete(f"{path}/{trunk['access_trunks'][0]['id']}")
    assert last.status_code == 409 and last.json["code"] == "conflict"


# --- DIDs -----------------------------------------------------------------------------------


def test_dids_are_assigned_in_the_core_with_the_pilot_moving(rig):
    trunk = rig.create_trunk()
    first = rig.add_did(trunk, NUMBERS[0])
    assert first["pilot"] is True and first["e164"] == NUMBERS[0]
    number = rig.number(NUMBERS[0])
    assert number["target_type"] == "siptrunk.trunk" and number["target_ref"] == trunk["id"]
    second = rig.add_did(trunk, NUMBERS[1], pilot=True)
    by_id = rig.tenant.post(
        f"siptrunk/trunks/{trunk['id']}/dids", {"number_id": rig.number(NUMBERS[2])["id"]}
    )
    assert by_id.status_code == 201 and by_id.json["pilot"] is False, by_id.json
    assert second["pilot"] is True
    dids = rig.tenant.get(f"siptrunk/trunks/{trunk['id']}/dids").json
    assert dids["total"] == 3
    assert {d["e164"]: d["pilot"] for d in dids["items"]} == {
        NUMBERS[0]: False,
        NUMBERS[1]: True,
        NUMBERS[2]: False,
    }
    got = rig.trunk(trunk["id"])
    assert got["did_count"] == 3 and got["pilot"] == NUMBERS[1]
    state = rig.driver.trunks[("pop-0", trunk["key"])]
    assert sorted(d.e164 for d in state.dids) == NUMBERS

    for q in ("%2B442079460103", "44207946010", "+4420794601"):
        found = rig.tenant.get(f"siptrunk/trunks/{trunk['id']}/dids?q={q}").json
        assert found["total"] == (1 if q.endswith("3") else 3), (q, found)

    taken = rig.add_did(trunk, NUMBERS[0], expect=422)
    assert "already assigned" in taken["errors"]["e164"][0], taken
    unknown = rig.add_did(trunk, "+442079460199", expect=404)
    assert unknown["errors"] == {"e164": ["Not found in your scope."]}, unknown
    assert rig.trunk(trunk["id"])["did_count"] == 3


def test_did_rewrite_and_divert_are_validated_and_removal_unassigns(rig):
    trunk = rig.create_trunk(format_in="national")
    did = rig.add_did(trunk, NUMBERS[0])
    path = f"siptrunk/trunks/{trunk['id']}/dids/{did['id']}"
    for body, field in (
        ({"rewrite_to": "ext 201"}, "rewrite_to"),
        ({"divert_to": "0800 please"}, "divert_to"),
        ({"dr_active": True}, "dr_destination"),
    ):
        bad = rig.tenant.patch(path, body)
        assert bad.status_code == 422 and field in bad.json["errors"], (body, bad.json)
    bad = rig.add_did(trunk, NUMBERS[1], rewrite_to="abc", expect=422)
    assert "rewrite_to" in bad["errors"]
    assert rig.number(NUMBERS[1])["target_type"] is None  # the failed add changed nothing

    etag = rig.tenant.get(path).headers["ETag"]
    ok = rig.tenant.patch(
        path, {"rewrite_to": "201", "divert_to": "+441632960999"}, headers={"If-Match": etag}
    )
    assert ok.status_code == 200, ok.json
    assert ok.json["rewrite_to"] == "201" and ok.json["divert_to"] == "+441632960999"
    route = rig.driver.trunks[("pop-0", trunk["key"])].dids[0]
    assert (route.deliver_as, route.divert_to) == ("201", "+441632960999")

    removed = rig.tenant.delete(path)
    assert removed.status_code == 204
    number = rig.number(NUMBERS[0])
    assert number["state"] == "allocated" and number["target_type"] is None
    assert rig.driver.trunks[("pop-0", trunk["key"])].dids == ()
    assert rig.tenant.get(path).status_code == 404


# --- lists ----------------------------------------------------------------------------------


def test_trunk_block_and_allow_lists_and_the_group_block_list(rig):
    trunk = rig.create_trunk()
    for kind, prefix in (("block", "+449"), ("allow", "+4480")):
        path = f"siptrunk/trunks/{trunk['id']}/{kind}-list"
        added = rig.tenant.post(path, {"prefix": prefix, "note": "why"})
        assert added.status_code == 201 and added.json["kind"] == kind, added.json
        dup = rig.tenant.post(path, {"prefix": prefix})
        assert dup.status_code == 422 and "prefix" in dup.json["errors"]
        listed = rig.tenant.get(path).json
        assert listed["total"] == 1 and listed["items"][0]["prefix"] == prefix
    state = rig.driver.trunks[("pop-0", trunk["key"])]
    assert state.block == ("+449",) and state.allow == ("+4480",)
    bad = rig.tenant.post(f"siptrunk/trunks/{trunk['id']}/block-list", {"prefix": "449"})
    assert bad.status_code == 422 and "prefix" in bad.json["errors"]
    entry = rig.tenant.get(f"siptrunk/trunks/{trunk['id']}/block-list").json["items"][0]
    # an entry of the block list is not one of the allow list
    wrong = rig.tenant.delete(f"siptrunk/trunks/{trunk['id']}/allow-list/{entry['id']}")
    assert wrong.status_code == 404
    gone = rig.tenant.delete(f"siptrunk/trunks/{trunk['id']}/block-list/{entry['id']}")
    assert gone.status_code == 204
    assert rig.driver.trunks[("pop-0", trunk["key"])].block == ()

    # the group's block list: group administrators only
    refused = rig.tenant.post("siptrunk/block-list", {"prefix": "+4470"})
    assert refused.status_code == 403
    assert rig.tenant.get("siptrunk/block-list").status_code == 403
    added = rig.group.post("siptrunk/block-list", {"prefix": "+4470", "note": "personal"})
    assert added.status_code == 201 and added.json["trunk_id"] is None, added.json
    assert rig.group.get("siptrunk/block-list").json["total"] == 1
    for sbc in ("pop-0", "pop-1"):
        assert rig.driver.shared[sbc].block == ("+4470",)
    sbc = rig.group.get(f"siptrunk/sbcs/{rig.sbc_ids[0]}").json
    assert sbc["sync"]["state"] == "in_sync"
    assert rig.group.delete(f"siptrunk/block-list/{added.json['id']}").status_code == 204
    assert rig.driver.shared["pop-1"].block == ()


# --- calling plan ---------------------------------------------------------------------------


def test_calling_plan_toggles_and_upstream_locks(rig):
    trunk = rig.create_trunk()
    path = f"siptrunk/trunks/{trunk['id']}/calling-plan"
    plan = rig.tenant.get(path).json
    classes = {c["key"]: c for c in plan["classes"]}
    assert plan["country"] == "GB"
    assert classes["mobile"]["allowed"] is True and classes["mobile"]["locked"] is False
    assert classes["premium"]["enabled"] is False
    assert classes["international_zone1"]["barred"] is True  # national licence

    off = rig.tenant.patch(path, {"classes": {"mobile": {"enabled": False}}})
    assert off.status_code == 200, off.json
    assert {c["key"]: c["enabled"] for c in off.json["classes"]}["mobile"] is False
    assert "mobile" not in rig.driver.trunks[("pop-0", trunk["key"])].allowed_classes

    lock = rig.tenant.patch(path, {"classes": {"mobile": {"locked": True}}})
    assert lock.status_code == 403 and "classes.mobile.locked" in lock.json["errors"]
    locked = rig.reseller.patch(path, {"classes": {"mobile": {"enabled": True, "locked": True}}})
    assert locked.status_code == 200, locked.json
    mobile = {c["key"]: c for c in locked.json["classes"]}["mobile"]
    assert mobile["locked"] is True and mobile["allowed"] is True

    refused = rig.tenant.patch(path, {"classes": {"mobile": {"enabled": False}}})
    assert refused.status_code == 403, refused.json
    assert "classes.mobile.enabled" in refused.json["errors"]
    assert "mobile" in rig.driver.trunks[("pop-0", trunk["key"])].allowed_classes
    unknown = rig.tenant.patch(path, {"classes": {"teleport": {"enabled": True}}})
    assert unknown.status_code == 422 and "classes.teleport" in unknown.json["errors"]


def test_group_calling_plans_are_read_and_replaced_by_group_admins(rig):
    got = rig.group.get("siptrunk/calling-plans/nl")
    assert got.status_code == 200 and got.json["country"] == "NL", got.json
    assert [c["key"] for c in got.json["classes"]][:3] == ["toll_free", "premium", "mobile"]
    listed = rig.group.get("siptrunk/calling-plans").json
    assert [p["country"] for p in listed["items"]] == ["NL"]
    rest = {"key": "rest", "label": "Rest", "category": "national", "pattern": "^\\+"}
    classes = [got.json["classes"][0], rest]
    assert (
        rig.tenant.request(
            "PUT", "siptrunk/calling-plans/NL", json={"classes": classes}
        ).status_code
        == 403
    )
    bad = rig.group.request(
        "PUT", "siptrunk/calling-plans/NL", json={"classes": [{"key": "x", "pattern": "0"}]}
    )
    assert bad.status_code == 422 and "classes.0.category" in bad.json["errors"], bad.json
    put = rig.group.request(
        "PUT",
        "siptrunk/calling-plans/NL",
        json={"classes": classes},
        headers={"If-Match": got.headers["ETag"]},
    )
    assert put.status_code == 200, put.json
    assert [c["key"] for c in put.json["classes"]] == ["toll_free", "rest"]
    nl = [p for p in rig.driver.shared["pop-0"].plans if p.country == "NL"]
    assert [r.key for r in nl[0].rules] == ["toll_free", "rest"]
    assert rig.group.get("siptrunk/calling-plans/XX").status_code == 422


# --- SBCs -----------------------------------------------------------------------------------


def test_sbcs_hide_their_settings_and_reconcile_on_demand(rig):
    listed = rig.group.get("siptrunk/sbcs").json
    assert listed["total"] == 2
    sbc = listed["items"][0]
    assert "settings" not in sbc and sbc["settings_keys"] == ["db_url", "rpc_url"]
    assert sbc["sync"]["state"] == "in_sync" and sbc["last_reconcile"] is None
    assert sbc["carrier_gateways"] == [{"host": "198.51.100.10", "port": 5060, "transport": "udp"}]
    assert "secret://x" not in rig.group.get(f"siptrunk/sbcs/{sbc['id']}").get_data(as_text=True)

    trunk = rig.create_trunk()
    del rig.driver.trunks[("pop-0", trunk["key"])]  # drift made behind Fusion's back
    rig.driver.trunks[("pop-0", 999)] = "orphan"
    response = rig.group.post(f"siptrunk/sbcs/{rig.sbc_ids[0]}/reconcile")
    assert response.status_code == 202, response.json
    report = response.json["last_reconcile"]
    assert report["drifted"] == ["Head office PBX"] and report["orphans"] == [999], report
    assert ("pop-0", trunk["key"]) in rig.driver.trunks
    assert rig.group.get(f"siptrunk/sbcs/{rig.sbc_ids[0]}").json["last_reconcile"]["checked"] == 1
    assert rig.tenant.post(f"siptrunk/sbcs/{rig.sbc_ids[0]}/reconcile").status_code == 404

    # a PoP that does not answer shows failed with its reason; a re-sync repairs it
    rig.driver.down.add("pop-1")
    rig.tenant.patch(f"siptrunk/trunks/{trunk['id']}", {"outbound_enabled": False})
    failed = rig.trunk(trunk["id"])["sync"]
    assert failed["state"] == "failed"
    pops = {p["sbc"]: p for p in failed["pops"]}
    assert "pop-1 does not answer" in pops["pop-1"]["error"]
    assert pops["pop-0"]["state"] == "in_sync" and pops["pop-0"]["error"] is None
    rig.driver.down.clear()
    resync = rig.tenant.post(f"siptrunk/trunks/{trunk['id']}/sync")
    assert resync.status_code == 202 and resync.json["sync"]["state"] == "in_sync", resync.json

    in_use = rig.group.delete(f"siptrunk/sbcs/{rig.sbc_ids[0]}")
    assert in_use.status_code == 409 and "sbc" in in_use.json["errors"]
    renamed = rig.group.patch(f"siptrunk/sbcs/{rig.sbc_ids[0]}", {"name": "lon-1"})
    assert renamed.status_code == 200 and renamed.json["name"] == "lon-1"
    assert rig.trunk(trunk["id"])["sync"]["pops"][0]["sbc"] == "lon-1"
    dup = rig.group.patch(f"siptrunk/sbcs/{rig.sbc_ids[1]}", {"name": "lon-1"})
    assert dup.status_code == 422 and "name" in dup.json["errors"]
    bad = rig.group.post("siptrunk/sbcs", {"name": "x", "signalling_host": "h", "driver": "acme"})
    assert bad.status_code == 422 and "driver" in bad.json["errors"], bad.json
    assert (
        rig.tenant.post(
            "siptrunk/sbcs", {"name": "mine", "signalling_host": "192.0.2.9", "driver": "memory"}
        ).status_code
        == 403
    )
    spare = rig.add_sbc("spare", "192.0.2.9")
    assert rig.group.delete(f"siptrunk/sbcs/{spare['id']}").status_code == 204


# --- permissions and scope ------------------------------------------------------------------


def test_read_only_admins_read_and_other_tenants_see_nothing(rig):
    trunk = rig.create_trunk()
    reader = rig.api.as_(rig.make.admin(rig.tree["tenant"], role="read_only"))
    assert reader.get(f"siptrunk/trunks/{trunk['id']}").status_code == 200
    for method, path, body in (
        ("POST", "siptrunk/trunks", {"subscription_id": rig.sub_id, "name": "x", "pbx_host": "203.0.113.77"}),
        ("PATCH", f"siptrunk/trunks/{trunk['id']}", {"max_calls": 1}),
        ("DELETE", f"siptrunk/trunks/{trunk['id']}", None),
        ("POST", f"siptrunk/trunks/{trunk['id']}/dids", {"e164": NUMBERS[0]}),
        ("POST", f"siptrunk/trunks/{trunk['id']}/block-list", {"prefix": "+449"}),
        ("PATCH", f"siptrunk/trunks/{trunk['id']}/calling-plan", {"classes": {"mobile": {"enabled": False}}}),
        ("PUT", f"siptrunk/subscriptions/{rig.sub_id}/capacity", {"max_calls": 1}),
    ):  # fmt: skip
        response = reader.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.json)
    assert rig.trunk(trunk["id"])["max_calls"] == 2
    group_reader = rig.api.as_(rig.make.admin(rig.tree["group"], role="read_only"))
    assert group_reader.get(f"siptrunk/sbcs/{rig.sbc_ids[0]}").status_code == 200
    for path in (f"siptrunk/sbcs/{rig.sbc_ids[0]}/reconcile", "siptrunk/block-list"):
        response = group_reader.post(path, {"prefix": "+449"} if "block" in path else None)
        assert response.status_code == 403, (path, response.json)

    other = rig.api.as_(rig.make.admin(rig.tree["sibling_tenant"]))
    for path in (
        f"siptrunk/trunks/{trunk['id']}",
        f"siptrunk/trunks/{trunk['id']}/dids",
        f"siptrunk/trunks/{trunk['id']}/calling-plan",
        f"siptrunk/subscriptions/{rig.sub_id}/capacity",
        f"siptrunk/sbcs/{rig.sbc_ids[0]}",
    ):
        response = other.get(path)
        assert response.status_code == 404 and response.json["code"] == "not_found", path
    assert other.patch(f"siptrunk/trunks/{trunk['id']}", {"max_calls": 1}).status_code == 404
    assert other.get("siptrunk/trunks").json["total"] == 0
    foreign = rig.create_trunk(client=other, expect=404)
    assert foreign["errors"] == {"subscription_id": ["Not found."]}, foreign
    assert rig.tenant.get("siptrunk/trunks/not-a-uuid").status_code == 404


def test_deleting_a_trunk_gives_back_licence_channels_and_numbers(rig):
    trunk = rig.create_trunk(max_calls=3)
    rig.add_did(trunk, NUMBERS[0])
    rig.add_did(trunk, NUMBERS[1])
    rig.tenant.post(f"siptrunk/trunks/{trunk['id']}/block-list", {"prefix": "+449"})
    ent = rig.entitlements()
    assert ent["REF-trunk_national"] == (1, 1) and ent["REF-channels"] == (4, 3)

    stale = rig.tenant.delete(f"siptrunk/trunks/{trunk['id']}", headers={"If-Match": '"0-0"'})
    assert stale.status_code == 412
    response = rig.tenant.delete(f"siptrunk/trunks/{trunk['id']}")
    assert response.status_code == 204, response.json
    ent = rig.entitlements()
    assert ent["REF-trunk_national"] == (1, 0) and ent["REF-channels"] == (4, 0)
    for e164 in NUMBERS[:2]:
        number = rig.number(e164)
        assert number["state"] == "allocated" and number["target_type"] is None, number
    assert {("pop-0", trunk["key"]), ("pop-1", trunk["key"])} <= set(rig.driver.removed)
    assert not any(key == trunk["key"] for (_sbc, key) in rig.driver.trunks)
    assert rig.tenant.get(f"siptrunk/trunks/{trunk['id']}").status_code == 404
    # the licence is free again
    rig.create_trunk(name="Again")


def test_the_openapi_document_lists_the_siptrunk_paths(api):
    paths = api.get("openapi.json").json["paths"]
    for path in (
        "/api/v1/siptrunk/sbcs",
        "/api/v1/siptrunk/sbcs/{id}",
        "/api/v1/siptrunk/sbcs/{id}/reconcile",
        "/api/v1/siptrunk/calling-plans",
        "/api/v1/siptrunk/calling-plans/{country}",
        "/api/v1/siptrunk/block-list",
        "/api/v1/siptrunk/block-list/{id}",
        "/api/v1/siptrunk/trunks",
        "/api/v1/siptrunk/trunks/{id}",
        "/api/v1/siptrunk/trunks/{id}/sync",
        "/api/v1/siptrunk/trunks/{id}/access-trunks",
        "/api/v1/siptrunk/trunks/{id}/access-trunks/{aid}",
        "/api/v1/siptrunk/trunks/{id}/dids",
        "/api/v1/siptrunk/trunks/{id}/dids/{did}",
        "/api/v1/siptrunk/trunks/{id}/block-list",
        "/api/v1/siptrunk/trunks/{id}/block-list/{entry}",
        "/api/v1/siptrunk/trunks/{id}/allow-list/{entry}",
        "/api/v1/siptrunk/trunks/{id}/calling-plan",
        "/api/v1/siptrunk/subscriptions/{id}/capacity",
    ):
        assert path in paths, path
    trunk = paths["/api/v1/siptrunk/trunks/{id}"]
    assert {"get", "patch", "delete"} <= set(trunk)
    assert "409" in paths["/api/v1/siptrunk/trunks"]["post"]["responses"]


def test_a_subscription_limit_below_a_trunks_capacity_is_refused(rig):
    rig.create_trunk(max_calls=3)
    path = f"siptrunk/subscriptions/{rig.sub_id}/capacity"
    below = rig.tenant.request("PUT", path, json={"max_calls": 2})
    assert below.status_code == 422, below.json
    assert "At least 3" in below.json["errors"]["max_calls"][0], below.json
    assert rig.tenant.get(path).json["max_calls"] is None


def test_two_trunks_cannot_share_a_source_address_on_one_sbc(rig):
    rig.order(trunk_national=1)
    rig.create_trunk()
    clash = rig.create_trunk(name="Second PBX", max_calls=1, expect=422)
    assert "already sends calls as trunk Head office PBX" in str(clash["errors"]), clash
    assert rig.create_trunk(name="Second PBX", max_calls=1, pbx_host="203.0.113.6")["id"]


def test_an_address_a_trunk_uses_cannot_be_deleted(rig):
    trunk = rig.create_trunk()
    refused = rig.tenant.delete(f"siptrunk/addresses/{rig.address_id}")
    assert refused.status_code == 409, refused.json
    assert f"trunk {trunk['name']} uses it" in str(refused.json["errors"]), refused.json
    assert rig.tenant.delete(f"siptrunk/trunks/{trunk['id']}").status_code == 204
    assert rig.tenant.delete(f"siptrunk/addresses/{rig.address_id}").status_code == 204


def test_a_deleted_sbc_leaves_no_sync_status_behind(rig, app):
    from sqlalchemy import func, select

    from fusion_core.db import get_db
    from fusion_core.jobs.models import SyncStatus

    def statuses():
        with app.app_context():
            return get_db().session.scalar(
                select(func.count())
                .select_from(SyncStatus)
                .where(SyncStatus.entity_id == rig.sbc_ids[1])
            )

    assert statuses() == 1
    assert rig.group.delete(f"siptrunk/sbcs/{rig.sbc_ids[1]}").status_code == 204
    assert statuses() == 0


def test_a_tenants_settings_are_what_new_trunks_start_from(rig):
    path = f"siptrunk/tenants/{rig.tree['tenant'].id}/settings"
    assert rig.tenant.get(path).json == {
        "tenant_id": str(rig.tree["tenant"].id),
        "country": None,
        "format_in": "e164",
        "format_out": "e164",
        "address_id": None,
    }
    bad = rig.tenant.patch(path, {"country": "XX"})
    assert bad.status_code == 422 and "country" in bad.json["errors"], bad.json
    saved = rig.tenant.patch(
        path, {"country": "gb", "format_in": "national", "address_id": rig.address_id}
    )
    assert saved.status_code == 200, saved.json
    assert (saved.json["country"], saved.json["format_in"]) == ("GB", "national")

    body = {"subscription_id": rig.sub_id, "name": "Defaults", "pbx_host": "203.0.113.9"}
    trunk = rig.tenant.post("siptrunk/trunks", body)
    assert trunk.status_code == 201, trunk.json
    assert (trunk.json["country"], trunk.json["format_in"], trunk.json["format_out"]) == (
        "GB",
        "national",
        "e164",
    )
    assert trunk.json["address_id"] == rig.address_id
    rig.order(trunk_national=1)
    own = {**body, "name": "Own", "format_in": "e164", "pbx_host": "203.0.113.10", "max_calls": 1}
    given = rig.tenant.post("siptrunk/trunks", own)
    assert given.status_code == 201, given.json
    assert given.json["format_in"] == "e164"  # what a request names wins over the defaults

    assert rig.tenant.delete(f"siptrunk/trunks/{trunk.json['id']}").status_code == 204
    in_use = rig.tenant.delete(f"siptrunk/addresses/{rig.address_id}")
    assert in_use.status_code == 409, in_use.json
    assert "default for new trunks" in str(in_use.json["errors"]), in_use.json

    other = rig.api.as_(rig.make.admin(rig.tree["sibling_tenant"]))
    assert other.get(path).status_code == 404
    assert other.patch(path, {"format_in": "national"}).status_code == 404
