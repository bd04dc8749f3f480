"""End to end: provisioned through the REST API (jobs executed), proven with SIP calls placed
with sipp through two real Kamailio SBCs (two PoPs) running the shipped configuration.

Carrier, SBCs and PBX each have their own loopback address. Set-up that is not under test
(entitlements, numbers allocated to the subscription) is written directly to the database.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fusion_siptrunk import siptest
from fusion_siptrunk.sbc.kamailio import KamailioDriver, engine_for

from fusion_core.catalog.models import Entitlement, Sku
from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db
from fusion_core.numbering.models import PhoneNumber

SBC_A, SBC_B = "127.0.0.21", "127.0.0.22"
CARRIER = "127.0.0.23"
PBX = "127.0.0.24"
DID = "+441632960101"
OTHER_DID = "+441632960102"
ADDRESS = {
    "label": "Head office",
    "country": "GB",
    "street_lines": ["10 Downing Street"],
    "city": "London",
    "postal_code": "SW1A 2AA",
}


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    siptest.need_sip_binaries()
    base = tmp_path_factory.mktemp("e2e")
    sbcs = [siptest.Kamailio(base / "sbc-a", addr=SBC_A), siptest.Kamailio(base / "sbc-b", SBC_B)]
    carrier_gw = siptest.Uas(base / "carrier-gw", CARRIER)
    pbx = siptest.Uas(base / "pbx", PBX)
    try:
        for part in (*sbcs, carrier_gw, pbx):
            part.start()
        yield {"sbcs": sbcs, "carrier_gw": carrier_gw, "pbx": pbx, "base": base}
    finally:
        for part in (pbx, carrier_gw, *sbcs):
            part.stop()


class Rig:
    """A group with both SBCs, a tenant with a SIP-trunking subscription, its entitlements,
    two GB numbers and a validated emergency address; clients of the group and tenant admins."""

    def __init__(self, app, api, make, network) -> None:
        self.app, self.network = app, network
        self.kams: list[siptest.Kamailio] = network["sbcs"]
        self.tree = make.tree()
        self.group = api.as_(make.admin(self.tree["group"]))
        self.tenant = api.as_(make.admin(self.tree["tenant"]))
        self.sbc_ids = []
        for i, kam in enumerate(self.kams):
            gw = network["carrier_gw"]
            body = {
                "name": f"pop-{i}",
                "locale": "en-GB",
                "driver": "kamailio",
                "signalling_host": kam.addr,
                "signalling_port": kam.sip_port,
                "settings": {"db_url": kam.db_url, "rpc_url": kam.rpc_url},
                "carrier_sources": [CARRIER],
                "carrier_gateways": [{"host": gw.addr, "port": gw.port}],
            }
            response = self.group.post("siptrunk/sbcs", body)
            assert response.status_code == 201, response.json
            self.sbc_ids.append(response.json["id"])
        self.subscription = make.subscription(self.tree["tenant"], "siptrunk", name="Trunks")
        self._set_up_ledger_and_numbers()
        response = self.tenant.post(
            "siptrunk/addresses", {"tenant_id": str(self.tree["tenant"].id), **ADDRESS}
        )
        assert response.status_code == 201, response.json
        assert response.json["status"] == "valid", response.json
        self.address_id = response.json["id"]

    def _set_up_ledger_and_numbers(self) -> None:
        sub = self.subscription
        with self.app.app_context(), acting_as(SYSTEM):
            session = get_db().session
            for key, ordered in (("sip_channel", 4), ("siptrunk_national", 1)):
                sku = Sku(kind="license", license_type=key, key=key, name=key,
                          external_reference=f"E2E-{key}", org_path=self.tree["group"].org_path)  # fmt: skip
                session.add(sku)
                session.flush()
                session.add(Entitlement(subscription_id=sub.id, sku_id=sku.id, ordered=ordered,
                                        consumed=0, org_path=sub.org_path))  # fmt: skip
            for e164 in (DID, OTHER_DID):
                session.add(PhoneNumber(e164=e164, country="GB", number_type="geographic",
                                        state="allocated", subscription_id=sub.id,
                                        org_path=sub.org_path))  # fmt: skip
            session.commit()

    def consumed(self) -> dict[str, int]:
        with self.app.app_context():
            rows = get_db().session.execute(
                sa.select(Sku.key, Entitlement.consumed)
                .join(Sku, Sku.id == Entitlement.sku_id)
                .where(Entitlement.subscription_id == self.subscription.id)
            )
            return dict(rows.all())

    def create_trunk(self, **changes) -> dict:
        pbx = self.network["pbx"]
        body = {"subscription_id": str(self.subscription.id), "name": "Head office PBX",
                "kind": "ip_pbx", "country": "GB", "format_in": "national",
                "pbx_host": pbx.addr, "pbx_port": pbx.port, "max_calls": 2,
                "address_id": self.address_id, **changes}  # fmt: skip
        response = self.tenant.post("siptrunk/trunks", body)
        assert response.status_code == 201, response.json
        return response.json

    def add_did(self, trunk: dict, e164: str = DID, **body) -> dict:
        response = self.tenant.post(f"siptrunk/trunks/{trunk['id']}/dids", {"e164": e164, **body})
        assert response.status_code == 201, response.json
        return response.json

    def trunk(self, trunk_id: str) -> dict:
        response = self.tenant.get(f"siptrunk/trunks/{trunk_id}")
        assert response.status_code == 200, response.json
        return response.json

    def patch(self, trunk_id: str, **body) -> dict:
        response = self.tenant.patch(f"siptrunk/trunks/{trunk_id}", body)
        assert response.status_code == 200, response.json
        return response.json

    def pop_states(self, trunk_id: str) -> dict[str, tuple[str, str | None]]:
        sync = self.trunk(trunk_id)["sync"]
        return {pop["sbc"]: (pop["state"], pop["error"]) for pop in sync["pops"]}

    def call(self, number: str, sbc: int = 0) -> siptest.CallResult:
        kam = self.kams[sbc]
        return siptest.uac(kam.addr, kam.sip_port, number, local_addr=CARRIER,
                           folder=self.network["base"] / "carrier-uac")  # fmt: skip


@pytest.fixture
def rig(app, api, make, network):
    return Rig(app, api, make, network)


def test_a_trunk_made_in_one_click_routes_its_did_through_both_pops(rig, network):
    trunk = rig.create_trunk()
    assert {pop["sbc"] for pop in trunk["sync"]["pops"]} == {"pop-0", "pop-1"}
    rig.add_did(trunk, rewrite_to="201")

    assert rig.pop_states(trunk["id"]) == {"pop-0": ("in_sync", None), "pop-1": ("in_sync", None)}
    assert rig.trunk(trunk["id"])["sync"]["state"] == "in_sync"
    for sbc in (0, 1):
        before = len(network["pbx"].received())
        result = rig.call(DID, sbc)
        assert result.successful == 1, result
        assert network["pbx"].received()[before:] == ["201"]
    unknown = rig.call("+441632960199")
    assert unknown.codes == {"404": 1}, unknown
    assert rig.consumed() == {"sip_channel": 2, "siptrunk_national": 1}


def test_a_change_through_the_api_is_live_once_its_job_has_run(rig, network):
    trunk = rig.create_trunk()
    rig.add_did(trunk)
    assert rig.call(DID).successful == 1

    rig.patch(trunk["id"], inbound_enabled=False)
    refused = rig.call(DID)
    assert refused.successful == 0 and refused.codes == {"403": 1}, refused

    rig.patch(trunk["id"], inbound_enabled=True, dr_destination="+441632960777", dr_active=True)
    before = len(network["carrier_gw"].received())
    diverted = rig.call(DID)
    assert diverted.successful == 1, diverted
    assert network["carrier_gw"].received()[before:] == ["+441632960777"]


def test_a_pop_that_is_down_shows_failed_and_recovers_when_it_returns(rig, network):
    trunk = rig.create_trunk()
    rig.add_did(trunk, rewrite_to="201")
    down = rig.kams[1]
    down.stop()
    try:
        did = rig.tenant.get(f"siptrunk/trunks/{trunk['id']}/dids").json
        did_id = (did["items"] if isinstance(did, dict) else did)[0]["id"]
        response = rig.tenant.patch(
            f"siptrunk/trunks/{trunk['id']}/dids/{did_id}", {"rewrite_to": "202"}
        )
        assert response.status_code == 200, response.json
        states = rig.pop_states(trunk["id"])
        assert states["pop-0"] == ("in_sync", None)
        assert states["pop-1"][0] == "failed" and states["pop-1"][1], states
        assert rig.trunk(trunk["id"])["sync"]["state"] == "failed"
    finally:
        down.start()
    # The SBC is back: the periodic reconcile (run here through the API) repairs it.
    response = rig.group.post(f"siptrunk/sbcs/{rig.sbc_ids[1]}/reconcile")
    assert response.status_code in (200, 202), response.json
    assert rig.pop_states(trunk["id"])["pop-1"] == ("in_sync", None)
    before = len(network["pbx"].received())
    assert rig.call(DID, 1).successful == 1
    assert network["pbx"].received()[before:] == ["202"]


def test_drift_made_by_hand_on_the_sbc_is_found_and_repaired_by_the_reconcile(rig, network):
    trunk = rig.create_trunk()
    rig.add_did(trunk)
    kam = rig.kams[0]
    with engine_for(kam.db_url).begin() as db:
        deleted = db.execute(
            sa.text("DELETE FROM sbc_did WHERE key_name LIKE :k"), {"k": DID + "%"}
        )
        assert deleted.rowcount > 0
    KamailioDriver().rpc(kam.sbc(), "htable.reload", "did")
    assert rig.call(DID).codes == {"404": 1}

    response = rig.group.post(f"siptrunk/sbcs/{rig.sbc_ids[0]}/reconcile")
    assert response.status_code in (200, 202), response.json
    report = rig.group.get(f"siptrunk/sbcs/{rig.sbc_ids[0]}").json["last_reconcile"]
    assert report["drifted"] == ["Head office PBX"] and report["repaired"] == ["Head office PBX"]
    assert rig.call(DID).successful == 1


def test_deleting_a_trunk_removes_it_everywhere_and_gives_back_numbers_and_licences(rig):
    trunk = rig.create_trunk()
    rig.add_did(trunk)
    assert rig.call(DID).successful == 1
    response = rig.tenant.delete(f"siptrunk/trunks/{trunk['id']}")
    assert response.status_code == 204, response.json

    driver = KamailioDriver()
    for kam in rig.kams:
        assert trunk["key"] not in driver.trunk_keys(kam.sbc())
        assert not any(driver.read_trunk(kam.sbc(), trunk["key"]).values())
    assert rig.call(DID).codes == {"404": 1}
    assert rig.consumed() == {"sip_channel": 0, "siptrunk_national": 0}
    number = rig.tenant.get(f"numbers/{DID}").json
    assert number["state"] == "allocated" and number["target_type"] is None, number
    assert rig.tenant.get(f"siptrunk/trunks/{trunk['id']}").status_code == 404


def test_a_call_from_an_unknown_source_is_refused(rig):
    trunk = rig.create_trunk()
    rig.add_did(trunk)
    kam = rig.kams[0]
    stranger = siptest.uac(kam.addr, kam.sip_port, "+441632960555", local_addr="127.0.0.29",
                           folder=rig.network["base"] / "stranger")  # fmt: skip
    assert stranger.successful == 0 and stranger.codes == {"403": 1}, stranger
