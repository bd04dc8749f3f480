"""What the SIP-trunk portal tests share: an in-memory SBC driver registered on the app's
plugin manager, a signed-in portal client, and a tenant with a SIP-trunking subscription
(entitlements, numbers) in a group with two SBCs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fusion_siptrunk import services
from fusion_siptrunk.sbc import SbcUnavailable

from fusion_core.catalog.models import Entitlement, Sku
from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db
from fusion_core.hookspecs import hookimpl
from fusion_core.numbering.models import PhoneNumber

DRIVER = "memory"
ADDRESS = {
    "label": "Head office",
    "country": "GB",
    "street_lines": ["10 Downing Street"],
    "city": "London",
    "postal_code": "SW1A 2AA",
}
NUMBERS = ("+441632960101", "+441632960102", "+441632960103")


class MemoryDriver:
    """An SBC that keeps what it is given; an SBC named in `down` refuses every call."""

    name = DRIVER

    def __init__(self) -> None:
        self.trunks: dict[tuple[str, int], dict[str, list[Any]]] = {}
        self.shared: dict[str, dict[str, list[Any]]] = {}
        self.down: set[str] = set()

    def _up(self, sbc) -> None:
        if sbc.name in self.down:
            raise SbcUnavailable(f"{sbc.name} does not answer (connection refused)")

    def render(self, sbc, state):
        return {"trunk": [repr(state)]}

    def apply_trunk(self, sbc, state) -> None:
        self._up(sbc)
        self.trunks[(sbc.name, state.key)] = self.render(sbc, state)

    def remove_trunk(self, sbc, key) -> None:
        self._up(sbc)
        self.trunks.pop((sbc.name, key), None)

    def read_trunk(self, sbc, key):
        self._up(sbc)
        return self.trunks.get((sbc.name, key), {})

    def trunk_keys(self, sbc) -> set[int]:
        self._up(sbc)
        return {key for name, key in self.trunks if name == sbc.name}

    def apply_shared(self, sbc, shared) -> None:
        self._up(sbc)
        self.shared[sbc.name] = self.render_shared(sbc, shared)

    def render_shared(self, sbc, shared):
        return {"shared": [repr(shared)]}

    def read_shared(self, sbc):
        self._up(sbc)
        return self.shared.get(sbc.name, {})

    def live_calls(self, sbc) -> dict[int, int]:
        return {}


class DriverPlugin:
    def __init__(self, driver: MemoryDriver) -> None:
        self.driver = driver

    @hookimpl
    def register_sbc_drivers(self):
        return [self.driver]


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


class Rig:
    """group → distributor → reseller → tenant (and a sibling tenant); two SBCs on the
    memory driver; a SIP-trunking subscription with 4 channels, 2 national trunk licences,
    1 international, and three GB numbers allocated to it."""

    def __init__(self, app, make, driver: MemoryDriver) -> None:
        self.app, self.make, self.driver = app, make, driver
        self.hosts = 6
        self.tree = make.tree()
        self.group_admin = make.admin(self.tree["group"])
        self.reseller_admin = make.admin(self.tree["reseller"])
        self.tenant_admin = make.admin(self.tree["tenant"])
        self.sibling_admin = make.admin(self.tree["sibling_tenant"])
        self.sub = make.subscription(self.tree["tenant"], "siptrunk", name="Trunking")
        self.sibling_sub = make.subscription(
            self.tree["sibling_tenant"], "siptrunk", name="Other trunking"
        )
        self.sbc_ids = [
            self.sbc(
                name=f"pop-{c}",
                locale=f"locale-{c}",
                signalling_host=f"192.0.2.{i + 1}",
                settings={"db_url": f"postgresql://kam:s3cret@db-{c}.example.net/kamailio"},
            )
            for i, c in enumerate("ab")
        ]
        self._ledger_and_numbers()
        self.address_id = self._address()

    def _address(self) -> str:
        from fusion_siptrunk.addresses import services as addresses

        from fusion_core.hierarchy.models import Organization

        with self.app.app_context(), acting_as(SYSTEM):
            session = self.session()
            tenant = session.get(Organization, self.tree["tenant"].id)
            address = addresses.create_address(session, tenant, ADDRESS)
            assert address.status == "valid", address.validation_errors
            return str(address.id)

    def session(self):
        return get_db().session

    def sbc(self, **data) -> str:
        with self.app.app_context(), acting_as(SYSTEM):
            session = self.session()
            sbc = services.create_sbc(
                session, {"driver": DRIVER, "group_id": self.tree["group"].id, **data}
            )
            session.commit()
            return str(sbc.id)

    def _ledger_and_numbers(self) -> None:
        with self.app.app_context(), acting_as(SYSTEM):
            session = self.session()
            for sub in (self.sub, self.sibling_sub):
                for key, ordered in (
                    ("sip_channel", 4),
                    ("siptrunk_national", 2),
                    ("siptrunk_international", 1),
                ):
                    sku = session.query(Sku).filter_by(key=key).one_or_none()
                    if sku is None:
                        sku = Sku(kind="license", license_type=key, key=key, name=key,
                                  external_reference=f"PAGES-{key}",
                                  org_path=self.tree["group"].org_path)  # fmt: skip
                        session.add(sku)
                        session.flush()
                    session.add(Entitlement(subscription_id=sub.id, sku_id=sku.id,
                                            ordered=ordered, consumed=0,
                                            org_path=sub.org_path))  # fmt: skip
            for e164 in NUMBERS:
                session.add(PhoneNumber(e164=e164, country="GB", number_type="geographic",
                                        state="allocated", subscription_id=self.sub.id,
                                        org_path=self.sub.org_path))  # fmt: skip
            session.commit()

    def trunk(self, name="Head office PBX", **changes) -> str:
        """A trunk made through the service (as the tenant's administrator would)."""
        self.hosts += 1  # an SBC tells trunks apart by their source address
        data = {"name": name, "kind": "ip_pbx", "country": "GB",
                "pbx_host": f"198.51.100.{self.hosts}",
                "max_calls": 2, "address_id": self.address_id, **changes}  # fmt: skip
        with self.app.app_context(), acting_as(SYSTEM):
            session = self.session()
            trunk = services.create_trunk(session, self.sub.id, data)
            session.commit()
            return str(trunk.id)

    def number_id(self, e164: str) -> str:
        with self.app.app_context():
            return str(self.session().query(PhoneNumber).filter_by(e164=e164).one().id)


@pytest.fixture
def memory_driver(app):
    """The memory driver on the app's plugin manager for one test (removed afterwards)."""
    pm = app.extensions["fusion.plugins"]
    driver = MemoryDriver()
    plugin = DriverPlugin(driver)
    pm.register(plugin, name="siptrunk-memory-driver")
    app.extensions.pop("siptrunk.drivers", None)
    try:
        yield driver
    finally:
        pm.unregister(plugin)
        app.extensions.pop("siptrunk.drivers", None)


@pytest.fixture
def rig(app, make, memory_driver):
    return Rig(app, make, memory_driver)
