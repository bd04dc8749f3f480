"""Numbers and ranges are checked against each country's numbering plan (phonenumbers)."""

from __future__ import annotations

import pytest

from fusion_core.numbering.validation import (
    MAX_RANGE_SIZE,
    NumberInvalid,
    check_number,
    check_range,
    range_numbers,
)


@pytest.mark.parametrize(
    ("number", "country", "number_type", "area"),
    [
        ("+3212345678", "BE", "geographic", "12"),
        ("+3225551234", "BE", "geographic", "2"),
        ("+32475123456", "BE", "mobile", "475"),
        ("+3280012345", "BE", "toll_free", "800"),
        ("+3290012345", "BE", "premium", "900"),
        ("+3278791234", "BE", "shared_cost", "78"),
        ("+441212345678", "GB", "geographic", "121"),
        ("+447400123456", "GB", "mobile", "7400"),
        ("+448001234567", "GB", "toll_free", "800"),
        ("+449012345678", "GB", "premium", "901"),
        ("+445612345678", "GB", "voip", "56"),
        ("+445512345678", "GB", "non_geographic", "55"),
        ("+447012345678", "GB", "personal", "70"),
        ("+31101234567", "NL", "geographic", "10"),
        ("+31851234567", "NL", "voip", "85"),
        ("+4930123456", "DE", "geographic", "30"),
        ("+33123456789", "FR", "geographic", "1"),
        ("+18002345678", "US", "toll_free", "800"),
        ("+12015550123", "US", "geographic", "201"),
    ],
)
def test_valid_numbers_get_country_type_and_area_from_the_plan(number, country, number_type, area):
    valid = check_number(number)
    assert (valid.e164, valid.country, valid.number_type, valid.area) == (
        number,
        country,
        number_type,
        area,
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("3225551234", "not in E.164 form"),
        ("+32 2 555 12 34", "not in E.164 form"),
        ("+0225551234", "not in E.164 form"),
        ("+3212", "too short"),
        ("+321234567890123", "too long"),
        # Possible (the length fits the Belgian plan) but in no block the plan allocates.
        ("+3278012345", "possible but not valid"),
        ("+32900123456", "possible but not valid"),
        # A GB drama number (Ofcom reserves 01632 96xxxx for fiction): possible, not valid.
        ("+441632960000", "possible but not valid"),
    ],
)
def test_invalid_numbers_are_refused_with_the_reason(value, reason):
    with pytest.raises(NumberInvalid) as error:
        check_number(value)
    assert error.value.field == "number"
    assert reason in error.value.reason


def test_possible_but_invalid_names_the_countrys_plan():
    with pytest.raises(NumberInvalid) as error:
        check_number("+441632960000")
    assert "GB numbering plan" in error.value.reason


@pytest.mark.parametrize(
    ("number", "declared", "plan"),
    [
        ("+3225551234", "mobile", "geographic"),
        ("+32475123456", "geographic", "mobile"),
        ("+3280012345", "premium", "toll_free"),
        ("+445612345678", "geographic", "voip"),
    ],
)
def test_a_declared_type_must_match_the_plan(number, declared, plan):
    with pytest.raises(NumberInvalid) as error:
        check_number(number, declared_type=declared)
    assert error.value.field == "type"
    assert f"declared {declared}" in error.value.reason
    assert f"makes it {plan}" in error.value.reason


def test_a_matching_declared_type_is_kept_and_unknown_types_are_refused():
    assert check_number("+32475123456", declared_type="mobile").number_type == "mobile"
    # North America cannot tell fixed from mobile: both declarations are accepted.
    assert check_number("+12015550123", declared_type="mobile").number_type == "mobile"
    with pytest.raises(NumberInvalid) as error:
        check_number("+3225551234", declared_type="landline")
    assert error.value.field == "type"
    assert "unknown type" in error.value.reason


def test_a_declared_country_must_be_the_numbers():
    with pytest.raises(NumberInvalid) as error:
        check_number("+3225551234", country="NL")
    assert (error.value.field, error.value.reason) == (
        "country",
        "the number belongs to BE, not NL",
    )


def test_a_range_is_validated_at_both_ends():
    valid = check_range("+3225550000", "+3225559999")
    assert valid.count == 10_000
    assert (valid.first.country, valid.first.number_type) == ("BE", "geographic")

    with pytest.raises(NumberInvalid) as error:
        check_range("+3225550000", "+3278012345")
    assert error.value.field == "last"
    assert "possible but not valid" in error.value.reason


@pytest.mark.parametrize(
    ("first", "last", "field", "reason"),
    [
        ("+3225559999", "+3225550000", "last", "comes before the first"),
        ("+3225550000", "+31101234567", "last", "starts in BE but ends in NL"),
        ("+3225550000", "+3225550000", None, None),
        ("+4930123456", "+49301234567", "last", "same number of digits"),
        ("+3212345678", "+3280012345", "last", "starts with geographic but ends with toll_free"),
    ],
)
def test_range_ends_must_agree(first, last, field, reason):
    if field is None:
        assert check_range(first, last).count == 1
        return
    with pytest.raises(NumberInvalid) as error:
        check_range(first, last)
    assert error.value.field == field
    assert reason in error.value.reason


def test_range_size_is_limited_and_its_numbers_are_generated_lazily():
    # +44 20 xxxx xxxx: London has room for ranges far beyond the limit.
    with pytest.raises(NumberInvalid) as error:
        check_range("+442070000000", "+442079999999")
    assert f"at most {MAX_RANGE_SIZE}" in error.value.reason
    assert check_range("+442070000000", "+442070999999").count == MAX_RANGE_SIZE

    numbers = range_numbers("+3225550998", 4)
    assert next(numbers) == "+3225550998"
    assert list(numbers) == ["+3225550999", "+3225551000", "+3225551001"]
