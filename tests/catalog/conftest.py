"""A group with a small catalogue: SKUs, products, and a group administrator's client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from fusion_core.catalog import ledger
from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db


@dataclass
class Catalog:
    api: Any
    make: Any
    tree: dict[str, Any]
    client: Any  # the group administrator's
    skus: dict[str, dict] = field(default_factory=dict)
    products: dict[str, dict] = field(default_factory=dict)

    def sku(self, name: str, **body) -> dict:
        response = self.client.post("skus", {"name": name, **body})
        assert response.status_code == 201, response.json
        self.skus[name] = response.json
        return response.json

    def product(self, name: str, lines: dict[str, int], **body) -> dict:
        payload = {
            "name": name,
            "lines": [{"sku_id": self.skus[s]["id"], "quantity": q} for s, q in lines.items()],
            **body,
        }
        response = self.client.post("products", payload)
        assert response.status_code == 201, response.json
        self.products[name] = response.json
        return response.json

    def order(self, body: dict, key: str | None = None):
        headers = {"Idempotency-Key": key} if key else {}
        return self.client.post("orders", body, headers=headers)

    def lines(self, **quantities: int) -> list[dict]:
        return [
            {"product_id": self.products[name.replace("_", " ")]["id"], "quantity": q}
            for name, q in quantities.items()
        ]

    def new_tenant(self, name: str = "Shop", parent=None, **quantities: int) -> dict:
        response = self.order(
            {
                "type": "new_tenant",
                "bss_reference": f"BSS-{name}",
                "tenant": {"parent_id": str((parent or self.tree["reseller"]).id), "name": name},
                "subscription": {"platform": "teams", "name": f"{name} Teams"},
                "lines": self.lines(**quantities),
            }
        )
        assert response.status_code == 201, response.json
        return response.json

    def entitlements(self, subscription_id: str, holders: bool = False) -> dict[str, dict]:
        path = f"subscriptions/{subscription_id}/entitlements" + ("?holders=1" if holders else "")
        response = self.client.get(path)
        assert response.status_code == 200, response.json
        return {e["external_reference"]: e for e in response.json}

    def consume(self, subscription_id: str, key: str, quantity: int, holder) -> Any:
        import uuid

        with self.api.app.app_context(), acting_as(SYSTEM):
            session = get_db().session
            try:
                hold = ledger.consume(session, uuid.UUID(subscription_id), key, quantity, holder)
                session.commit()
                return hold
            except Exception:
                session.rollback()
                raise


@pytest.fixture
def catalog(api, make) -> Catalog:
    tree = make.tree()
    cat = Catalog(api=api, make=make, tree=tree, client=api.as_(make.admin(tree["group"])))
    cat.sku("Fusion user", kind="license", license_type="fusion_user", external_reference="FU-1")
    cat.sku("SIP channel", kind="license", license_type="sip_channel", external_reference="SC-1")
    cat.sku(
        "BE geographic number",
        kind="number",
        country="BE",
        number_type="geographic",
        external_reference="NUM-BE-GEO",
    )
    # "Starter": 1 user + 1 BE number; "Trunk 10": 10 SIP channels.
    cat.product("Starter", {"Fusion user": 1, "BE geographic number": 1})
    cat.product("Trunk 10", {"SIP channel": 10})
    return cat
