"""The driver's bookkeeping against a real Kamailio: idempotence, isolation, drift, outages."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest
from fusion_siptrunk.sbc import Destination, SbcUnavailable


def test_apply_twice_is_idempotent_and_remove_leaves_nothing(sip):
    state = sip.trunk(key=150, sources=("10.1.2.0/24",), dids=())
    other = sip.trunk(key=151, sources=("10.1.3.4",), dids=())
    sip.driver.apply_trunk(sip.sbc, other)
    sip.driver.apply_trunk(sip.sbc, state)
    first = sip.driver.read_trunk(sip.sbc, 150)
    assert first == sip.driver.render(sip.sbc, state)
    assert first["address"] == [(150, "10.1.2.0", 24, 0, "trunk:150")]
    assert ("150:max", 1, "5") in first["sbc_trunk"]
    sip.driver.apply_trunk(sip.sbc, state)
    assert sip.driver.read_trunk(sip.sbc, 150) == first
    assert {150, 151} <= sip.driver.trunk_keys(sip.sbc)

    sip.driver.remove_trunk(sip.sbc, 150)
    sip.driver.remove_trunk(sip.sbc, 150)
    assert all(rows == [] for rows in sip.driver.read_trunk(sip.sbc, 150).values())
    assert 150 not in sip.driver.trunk_keys(sip.sbc)
    assert sip.driver.read_trunk(sip.sbc, 151) == sip.driver.render(sip.sbc, other)
    sip.driver.remove_trunk(sip.sbc, 151)


def test_destinations_map_to_dispatcher_rows(sip):
    state = sip.trunk(
        key=160,
        dids=(),
        destinations=(
            Destination("192.0.2.10", 5080, "tcp", priority=0, weight=70, probe=True),
            Destination("192.0.2.11", 5061, "tls", priority=10, weight=30),
        ),
    )
    sip.driver.apply_trunk(sip.sbc, state)
    try:
        assert sip.driver.read_trunk(sip.sbc, 160)["dispatcher"] == [
            # the first priority level shares 100 by weight; the next waits for it to fail
            (160, "sip:192.0.2.10:5080;transport=tcp", 8, 0, "weight=100", "Acme main"),
            (160, "sip:192.0.2.11:5061;transport=tls", 0, -10, "weight=1", "Acme main"),
        ]
        listed = sip.driver.rpc(sip.sbc, "dispatcher.list")
        assert "sip:192.0.2.10:5080;transport=tcp" in str(listed)
    finally:
        sip.driver.remove_trunk(sip.sbc, 160)


def test_hand_made_drift_shows_and_apply_repairs_it(sip):
    state = sip.trunk()
    sip.driver.apply_trunk(sip.sbc, state)
    assert sip.driver.read_trunk(sip.sbc, 100) == sip.driver.render(sip.sbc, state)
    with sqlite3.connect(sip.kam.db_path) as db:
        db.execute("UPDATE sbc_trunk SET key_value = '99' WHERE key_name = '100:max'")
        db.execute("DELETE FROM sbc_did WHERE key_name = '+441632960001:as'")
    drifted = sip.driver.read_trunk(sip.sbc, 100)
    assert drifted != sip.driver.render(sip.sbc, state)
    assert ("100:max", 1, "99") in drifted["sbc_trunk"]
    sip.driver.apply_trunk(sip.sbc, state)
    assert sip.driver.read_trunk(sip.sbc, 100) == sip.driver.render(sip.sbc, state)


def test_shared_state_round_trip(sip):
    assert sip.driver.read_shared(sip.sbc) == sip.driver.render_shared(sip.sbc, sip.shared)
    changed = replace(sip.shared, block=("+4490", "+4487"))
    assert sip.driver.render_shared(sip.sbc, changed) != sip.driver.read_shared(sip.sbc)
    sip.driver.apply_shared(sip.sbc, changed)
    try:
        assert sip.driver.read_shared(sip.sbc) == sip.driver.render_shared(sip.sbc, changed)
        sip.driver.apply_trunk(sip.sbc, sip.trunk())
        assert sip.from_pbx("08712345678").codes == {"403": 1}
    finally:
        sip.driver.apply_shared(sip.sbc, sip.shared)


def test_apply_to_a_stopped_sbc_raises_and_succeeds_after_restart(sip):
    state = sip.trunk(key=170, sources=("10.9.9.9",), dids=())
    sip.kam.stop()
    try:
        with pytest.raises(SbcUnavailable) as raised:
            sip.driver.apply_trunk(sip.sbc, state)
        assert sip.sbc.name in str(raised.value) and "permissions.addressReload" in str(
            raised.value
        )
        with pytest.raises(SbcUnavailable):
            sip.driver.live_calls(sip.sbc)
    finally:
        sip.kam.start()
    sip.driver.apply_trunk(sip.sbc, state)  # reloads what the failed apply could not
    assert sip.driver.read_trunk(sip.sbc, 170) == sip.driver.render(sip.sbc, state)
    assert "10.9.9.9" in str(sip.driver.rpc(sip.sbc, "permissions.addressDump"))
    sip.driver.remove_trunk(sip.sbc, 170)
    # and the restarted SBC carries calls
    sip.driver.apply_trunk(sip.sbc, sip.trunk())
    assert sip.from_carrier("+441632960001").successful == 1


def test_a_failed_reload_is_redone_by_the_next_apply_from_another_driver(sip):
    """The rows reach the SBC's database but its reload does not: the retry (a fresh work horse
    in production, here a fresh driver) finds the rows equal and must still reload them."""
    from fusion_siptrunk.sbc.kamailio import KamailioDriver

    state = sip.trunk(key=171, sources=("10.9.9.171",), dids=())
    unreachable = replace(
        sip.sbc, settings={**sip.sbc.settings, "rpc_url": "http://127.0.0.1:9/RPC"}
    )
    with pytest.raises(SbcUnavailable):
        sip.driver.apply_trunk(unreachable, state)
    assert sip.driver.read_trunk(sip.sbc, 171) == sip.driver.render(sip.sbc, state)
    assert "10.9.9.171" not in str(sip.driver.rpc(sip.sbc, "permissions.addressDump"))
    try:
        KamailioDriver().apply_trunk(sip.sbc, state)
        assert "10.9.9.171" in str(sip.driver.rpc(sip.sbc, "permissions.addressDump"))
        with sqlite3.connect(sip.kam.db_path) as db:
            assert db.execute("SELECT table_name FROM sbc_reload_pending").fetchall() == []
    finally:
        sip.driver.remove_trunk(sip.sbc, 171)


def test_live_calls_counts_calls_in_progress(sip):
    from fusion_siptrunk import siptest

    sip.driver.apply_trunk(sip.sbc, sip.trunk())
    assert sip.driver.live_calls(sip.sbc) == {}
    held = siptest.Uac(
        sip.kam.addr, sip.kam.sip_port, "+441632960001", local_addr="127.0.0.12",
        folder=sip.base / "live", calls=3, limit=3, hold_ms=3000, timeout=30,
    )  # fmt: skip
    try:
        assert sip.wait_live(100, 3) == {100: 3}
    finally:
        assert held.wait().successful == 3
    assert sip.wait_live(100, 0) == {}
