"""How access trunks' priority and weight become the SBC's dispatcher weights (no SBC needed;
tests/sip/test_kamailio_calls.py places the calls)."""

from __future__ import annotations

from fusion_siptrunk.sbc import Destination
from fusion_siptrunk.sbc.kamailio import dispatch_shares


def dest(priority: int, weight: int) -> Destination:
    return Destination("192.0.2.1", priority=priority, weight=weight)


def test_the_first_priority_level_shares_everything_by_weight():
    # every other level gets 1, which Kamailio never draws once the first level filled 100
    assert dispatch_shares((dest(0, 70), dest(0, 30), dest(5, 90))) == [70, 30, 1]
    # scaled to 100 whatever the weights add up to
    assert dispatch_shares((dest(1, 1), dest(1, 3))) == [25, 75]
    # the first level is the lowest priority value, wherever it is listed
    assert dispatch_shares((dest(9, 100), dest(2, 10))) == [1, 100]


def test_rounding_goes_to_the_heaviest_and_the_level_sums_to_100():
    shares = dispatch_shares((dest(0, 1), dest(0, 1), dest(0, 2), dest(3, 5)))
    assert shares == [25, 25, 50, 1]
    thirds = dispatch_shares((dest(0, 10), dest(0, 10), dest(0, 10)))
    assert thirds == [34, 33, 33] and sum(thirds) == 100


def test_all_weights_zero_is_an_even_split_and_no_destination_no_rows():
    assert dispatch_shares((dest(0, 0), dest(0, 0), dest(1, 0))) == [50, 50, 1]
    assert dispatch_shares(()) == []
