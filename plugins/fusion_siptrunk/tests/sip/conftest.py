"""One Kamailio SBC with the shipped config per test module, a carrier gateway and a PBX (sipp
answerers), each on its own loopback address; states built directly, no Flask app."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from fusion_siptrunk import siptest
from fusion_siptrunk.sbc import (
    CallingPlan,
    ClassRule,
    DidRoute,
    SharedState,
    TrunkState,
)
from fusion_siptrunk.sbc.kamailio import KamailioDriver

CARRIER = "127.0.0.12"  # the carrier's caller and its gateway
SBC = "127.0.0.13"
PBX = "127.0.0.14"  # the trunk's source and its PBX
STRANGER = "127.0.0.19"

PLAN = CallingPlan(
    key=1,
    country="GB",
    rules=(
        ClassRule("premium", r"^\+449", 0),
        ClassRule("mobile", r"^\+447", 1),
        ClassRule("national_fixed", r"^\+44[123]", 2),
        ClassRule("international_zone1", r"^\+33", 3),
    ),
)


class SipRig:
    def __init__(self, kam: siptest.Kamailio, carrier_gw: siptest.Uas, pbx: siptest.Uas, base):
        self.kam, self.carrier_gw, self.pbx, self.base = kam, carrier_gw, pbx, base
        self.driver = KamailioDriver()
        self.sbc = kam.sbc()
        self.shared = SharedState(
            carrier_sources=(CARRIER,),
            carrier_gateways=(carrier_gw.destination,),
            block=("+4490",),
            plans=(PLAN,),
        )

    def trunk(self, **changes) -> TrunkState:
        state = TrunkState(
            key=100,
            name="Acme main",
            subscription_key="sub-acme",
            inbound=True,
            outbound=True,
            max_calls=5,
            subscription_max_calls=10,
            sources=(PBX,),
            destinations=(self.pbx.destination,),
            realm="pbx.acme.example",
            country_code="44",
            national_prefix="0",
            international_prefix="00",
            format_in="national",
            format_out="national",
            dr_active=False,
            dr_to=None,
            dids=(
                DidRoute("+441632960001", "01632960001"),
                DidRoute("+441632960002", "01632960002", divert_to="+441632960999"),
                DidRoute("+441632960003", "01632960003", dr_to="+441632960777", dr_active=True),
                DidRoute("+441632960004", "01632960004", dr_to="+441632960444"),
            ),
            plan=PLAN.key,
            allowed_classes=("national_fixed", "mobile"),
        )
        return replace(state, **changes)

    def from_carrier(self, number: str, **kwargs) -> siptest.CallResult:
        return siptest.uac(
            self.kam.addr, self.kam.sip_port, number, local_addr=CARRIER,
            folder=self.base / "carrier-uac", **kwargs,
        )  # fmt: skip

    def from_pbx(self, number: str, addr: str = PBX, **kwargs) -> siptest.CallResult:
        return siptest.uac(
            self.kam.addr, self.kam.sip_port, number, local_addr=addr,
            folder=self.base / "pbx-uac", **kwargs,
        )  # fmt: skip

    def wait_live(self, key: int, count: int, timeout: float = 15) -> dict[int, int]:
        """Poll live_calls until trunk `key` has `count` calls (or give up and return it)."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.driver.live_calls(self.sbc)
            if calls.get(key, 0) == count or time.monotonic() > deadline:
                return calls
            time.sleep(0.1)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    siptest.need_sip_binaries()
    base = tmp_path_factory.mktemp("sip")
    kam = siptest.Kamailio(base / "sbc", addr=SBC)
    carrier_gw = siptest.Uas(base / "carrier-gw", CARRIER)
    pbx = siptest.Uas(base / "pbx", PBX)
    try:
        kam.start()
        carrier_gw.start()
        pbx.start()
        rig = SipRig(kam, carrier_gw, pbx, base)
        rig.driver.apply_shared(rig.sbc, rig.shared)
        yield rig
    finally:
        pbx.stop()
        carrier_gw.stop()
        kam.stop()


@pytest.fixture
def sip(rig, request):
    """The rig, with the SBC's log attached to a failing test's report."""
    before = len(rig.kam.log)
    yield rig
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("--- kamailio log of this test ---\n" + rig.kam.log[before:][-6000:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
