"""Number and range validation with `phonenumbers` (Google's libphonenumber metadata).

Each check answers the field at fault and a reason a person can act on; the importer turns
them into its per-row report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, ValidationResult

from fusion_core.numbering.models import NUMBER_TYPES

E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")
MAX_RANGE_SIZE = 1_000_000

# phonenumbers' types in our words. FIXED_LINE_OR_MOBILE (e.g. the North American plan,
# where the two cannot be told apart) counts as geographic, and a declared "mobile" is
# accepted for it too.
TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "geographic",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "geographic",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "non_geographic",
    PhoneNumberType.VOICEMAIL: "voicemail",
}

POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "the country code does not exist",
    ValidationResult.TOO_SHORT: "too short for the country's numbering plan",
    ValidationResult.TOO_LONG: "too long for the country's numbering plan",
    ValidationResult.INVALID_LENGTH: "a length the country's numbering plan never uses",
}


class NumberInvalid(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class ValidNumber:
    e164: str
    country: str
    number_type: str
    area: str | None


def check_number(
    value: str, *, declared_type: str | None = None, country: str | None = None, field="number"
) -> ValidNumber:
    """Validate one number in E.164 form against its country's plan; raise NumberInvalid."""
    if not isinstance(value, str) or not E164_RE.match(value):
        raise NumberInvalid(
            field, "not in E.164 form: '+', the country code, then the number (up to 15 digits)"
        )
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise NumberInvalid(field, f"cannot be read as a phone number ({exc._msg})") from None
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible != ValidationResult.IS_POSSIBLE and possible in POSSIBLE_REASONS:
        raise NumberInvalid(field, POSSIBLE_REASONS[possible])
    region = phonenumbers.region_code_for_number(parsed)
    if not phonenumbers.is_valid_number(parsed):
        where = region or phonenumbers.region_code_for_country_code(parsed.country_code)
        raise NumberInvalid(
            field,
            f"possible but not valid: no number block of the {where} numbering plan contains it",
        )
    if country and country.upper() != region:
        raise NumberInvalid("country", f"the number belongs to {region}, not {country.upper()}")
    plan_type = phonenumbers.number_type(parsed)
    ours = TYPE_NAMES.get(plan_type)
    if ours is None:
        raise NumberInvalid(field, "the numbering plan gives it no known number type")
    if declared_type is not None:
        if declared_type not in NUMBER_TYPES:
            raise NumberInvalid("type", f"unknown type; use one of: {', '.join(NUMBER_TYPES)}")
        both = plan_type == PhoneNumberType.FIXED_LINE_OR_MOBILE and declared_type == "mobile"
        if declared_type != ours and not both:
            raise NumberInvalid(
                "type", f"declared {declared_type}, but the {region} plan makes it {ours}"
            )
        ours = declared_type
    return ValidNumber(value, region, ours, _area(parsed))


def _area(parsed) -> str | None:
    """The area code or other national destination code (e.g. "2" for Brussels)."""
    national = phonenumbers.national_significant_number(parsed)
    length = phonenumbers.length_of_national_destination_code(parsed)
    return national[:length] if length else None


@dataclass(frozen=True)
class ValidRange:
    first: ValidNumber
    last: ValidNumber
    count: int


def check_range(first: str, last: str, *, declared_type: str | None = None) -> ValidRange:
    """Both ends valid, in the same country and of the same type and length, first <= last."""
    a = check_number(first, declared_type=declared_type, field="first")
    b = check_number(last, declared_type=declared_type, field="last")
    if a.country != b.country:
        raise NumberInvalid("last", f"the range starts in {a.country} but ends in {b.country}")
    if a.number_type != b.number_type:
        raise NumberInvalid(
            "last", f"the range starts with {a.number_type} but ends with {b.number_type} numbers"
        )
    if len(first) != len(last):
        raise NumberInvalid("last", "the two ends of a range must have the same number of digits")
    count = int(last[1:]) - int(first[1:]) + 1
    if count < 1:
        raise NumberInvalid("last", "the last number comes before the first")
    if count > MAX_RANGE_SIZE:
        raise NumberInvalid(
            "last", f"{count} numbers: a range holds at most {MAX_RANGE_SIZE} numbers"
        )
    return ValidRange(a, b, count)


def range_numbers(first: str, count: int, start: int = 0, stop: int | None = None):
    """The E.164 numbers of a range (a generator: ranges are never materialised at once)."""
    width = len(first) - 1
    base = int(first[1:])
    for offset in range(start, count if stop is None else min(stop, count)):
        yield f"+{base + offset:0{width}d}"
