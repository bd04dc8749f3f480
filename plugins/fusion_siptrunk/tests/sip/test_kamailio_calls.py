"""Real calls through the shipped Kamailio config, provisioned by the driver."""

from __future__ import annotations

from dataclasses import replace

from fusion_siptrunk import siptest

STRANGER = "127.0.0.19"  # no trunk has this source


def new_calls(uas: siptest.Uas, before: int) -> list[str]:
    return uas.received()[before:]


def test_call_to_did_reaches_pbx_with_rewrite(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk())
    before = len(sip.pbx.invites())
    result = sip.from_carrier("+441632960001")
    assert (result.successful, result.failed) == (1, 0), result
    invites = sip.pbx.invites()[before:]
    assert len(invites) == 1
    _, user, host, *_ = invites[0].split()
    assert user == "01632960001"  # deliver_as
    assert host == "pbx.acme.example"  # the trunk's realm


def test_did_without_plus_from_carrier_is_the_same_did(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk())
    before = len(sip.pbx.received())
    result = sip.from_carrier("441632960001")
    assert result.successful == 1, result
    assert new_calls(sip.pbx, before) == ["01632960001"]


def test_unknown_did_is_refused(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk())
    before = len(sip.pbx.received())
    result = sip.from_carrier("+441632960555")
    assert result.successful == 0 and result.codes == {"404": 1}, result
    assert new_calls(sip.pbx, before) == []


def test_inbound_disabled_is_refused(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk(inbound=False))
    result = sip.from_carrier("+441632960001")
    assert result.codes == {"403": 1}, result


def test_trunk_dr_sends_calls_to_its_destination_via_the_carrier(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk(dr_active=True, dr_to="+441632960888"))
    pbx_before, gw_before = len(sip.pbx.received()), len(sip.carrier_gw.received())
    assert sip.from_carrier("+441632960001").successful == 1
    # a DID with a DR destination of its own goes there under the trunk's DR
    assert sip.from_carrier("+441632960004").successful == 1
    assert new_calls(sip.carrier_gw, gw_before) == ["+441632960888", "+441632960444"]
    assert new_calls(sip.pbx, pbx_before) == []


def test_did_dr_and_divert_go_via_the_carrier(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk())
    pbx_before, gw_before = len(sip.pbx.received()), len(sip.carrier_gw.received())
    assert sip.from_carrier("+441632960002").successful == 1  # divert_to
    assert sip.from_carrier("+441632960003").successful == 1  # its own DR on
    assert sip.from_carrier("+441632960004").successful == 1  # DR destination, DR off
    assert new_calls(sip.carrier_gw, gw_before) == ["+441632960999", "+441632960777"]
    assert new_calls(sip.pbx, pbx_before) == ["01632960004"]


def test_capacity_admits_max_calls_and_refuses_the_next(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk(max_calls=2))
    held = siptest.Uac(
        sip.kam.addr, sip.kam.sip_port, "+441632960001", local_addr="127.0.0.12",
        folder=sip.base / "held", calls=2, limit=2, hold_ms=4000, timeout=30,
    )  # fmt: skip
    try:
        assert sip.wait_live(100, 2) == {100: 2}
        extra = sip.from_carrier("+441632960001")
        assert extra.codes == {"486": 1}, extra
        outbound = sip.from_pbx("01632960123")  # outbound calls count too
        assert outbound.codes == {"486": 1}, outbound
    finally:
        result = held.wait()
    assert (result.successful, result.failed) == (2, 0), result
    assert sip.wait_live(100, 0) == {}


def test_subscription_capacity_is_shared_by_its_trunks(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk(max_calls=5, subscription_max_calls=1))
    held = siptest.Uac(
        sip.kam.addr, sip.kam.sip_port, "+441632960001", local_addr="127.0.0.12",
        folder=sip.base / "held-sub", calls=1, hold_ms=3000, timeout=30,
    )  # fmt: skip
    try:
        assert sip.wait_live(100, 1) == {100: 1}
        assert sip.from_carrier("+441632960001").codes == {"486": 1}
    finally:
        assert held.wait().successful == 1


def test_outbound_allowed_reaches_the_carrier_in_e164(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk())
    before = len(sip.carrier_gw.received())
    assert sip.from_pbx("01632960123").successful == 1  # national format
    assert sip.from_pbx("+447700900123").successful == 1  # E.164 always accepted
    assert sip.from_pbx("00441632960124").successful == 1  # international prefix
    assert new_calls(sip.carrier_gw, before) == [
        "+441632960123",
        "+447700900123",
        "+441632960124",
    ]


def test_outbound_refusals(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk(block=("+44163296",)))
    before = len(sip.carrier_gw.received())
    assert sip.from_pbx("09012345678").codes == {"403": 1}  # the group's block list
    assert sip.from_pbx("01632960123").codes == {"403": 1}  # the trunk's block list
    assert sip.from_pbx("09812345678").codes == {"403": 1}  # premium: class not allowed
    assert sip.from_pbx("0033123456789").codes == {"403": 1}  # international: not allowed
    assert sip.from_pbx("+8612345678").codes == {"403": 1}  # in no class of the plan
    assert sip.from_pbx("1234").codes == {"484": 1}  # not a number in the trunk's format
    assert new_calls(sip.carrier_gw, before) == []


def test_allow_list_overrides_a_barred_class(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk(allow=("+4498",)))
    before = len(sip.carrier_gw.received())
    assert sip.from_pbx("09812345678").successful == 1  # premium, but allowed by prefix
    assert sip.from_pbx("09912345678").codes == {"403": 1}  # premium, not on the allow list
    assert sip.from_pbx("09012345678").codes == {"403": 1}  # group block wins over allow
    assert new_calls(sip.carrier_gw, before) == ["+449812345678"]


def test_outbound_disabled_is_refused(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk(outbound=False))
    assert sip.from_pbx("01632960123").codes == {"403": 1}


def test_call_from_an_unknown_source_is_refused(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk())
    assert sip.from_pbx("01632960123", addr=STRANGER).codes == {"403": 1}


def test_e164_pbx_numbers(sip):
    sip.driver.apply_trunk(sip.sbc, sip.trunk(format_out="e164"))
    before = len(sip.carrier_gw.received())
    assert sip.from_pbx("441632960123").successful == 1
    assert new_calls(sip.carrier_gw, before) == ["+441632960123"]


def test_calling_numbers_are_presented_in_the_trunks_formats(sip):
    """Inbound, the carrier's E.164 caller is shown to the PBX in format_in; outbound, the
    PBX's caller in format_out reaches the carrier in E.164."""
    sip.driver.apply_trunk(sip.sbc, sip.trunk())  # national in and out
    before = len(sip.pbx.invites())
    assert sip.from_carrier("+441632960001", caller="+441632960500").successful == 1
    assert sip.from_carrier("+441632960001", caller="+33123456789").successful == 1
    assert sip.pbx.callers()[before:] == ["01632960500", "0033123456789"]

    sip.driver.apply_trunk(sip.sbc, sip.trunk(format_in="international"))
    before = len(sip.pbx.invites())
    assert sip.from_carrier("+441632960001", caller="+441632960500").successful == 1
    assert sip.pbx.callers()[before:] == ["00441632960500"]

    sip.driver.apply_trunk(sip.sbc, sip.trunk(format_in="e164"))
    before = len(sip.pbx.invites())
    assert sip.from_carrier("+441632960001", caller="+441632960500").successful == 1
    assert sip.pbx.callers()[before:] == ["+441632960500"]

    sip.driver.apply_trunk(sip.sbc, sip.trunk())
    before = len(sip.carrier_gw.invites())
    assert sip.from_pbx("01632960123", caller="01632960200").successful == 1
    assert sip.from_pbx("01632960123", caller="0033123456789").successful == 1
    assert sip.carrier_gw.callers()[before:] == ["+441632960200", "+33123456789"]


def test_pop_priority_picks_the_pbx_and_a_dead_one_fails_over_to_the_next(sip):
    """Two PBX destinations (access trunks): the lower priority value takes the calls; changing
    the priorities moves them; with that PBX gone, a call times out there and reaches the other."""
    first = siptest.Uas(sip.base / "pop-first", "127.0.0.16").start()
    second = siptest.Uas(sip.base / "pop-second", "127.0.0.17").start()
    try:

        def route(first_priority: int, second_priority: int) -> None:
            destinations = (
                replace(first.destination, priority=first_priority),
                replace(second.destination, priority=second_priority),
            )
            sip.driver.apply_trunk(sip.sbc, sip.trunk(destinations=destinations))

        route(0, 1)
        assert sip.from_carrier("+441632960001", calls=3).successful == 3
        assert (len(first.received()), len(second.received())) == (3, 0)

        route(5, 1)
        assert sip.from_carrier("+441632960001", calls=3).successful == 3
        assert (len(first.received()), len(second.received())) == (3, 3)

        second.stop()  # the preferred PBX goes away: its INVITE times out (408), the next answers
        result = sip.from_carrier("+441632960001")
        assert (result.successful, result.failed) == (1, 0), result
        assert (len(first.received()), len(second.received())) == (4, 3)
    finally:
        first.stop()
        second.stop()
