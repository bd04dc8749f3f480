"""Helpers for the numbering tests: a hierarchy with clients, stock numbers, entitlements."""

from __future__ import annotations

from typing import Any

import pytest

from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import Base, get_db

# Valid numbers of the Belgian plan (Brussels geographic block).
BE_GEO = "+3225550000"


def be(n: int) -> str:
    return f"+322555{n:04d}"


class Numbering:
    def __init__(self, app, api, make) -> None:
        self.app = app
        self.make = make
        self.tree = make.tree()
        self.group_admin = make.admin(self.tree["group"])
        self.group = api.as_(self.group_admin)
        self.api = api
        self._clients: dict[str, Any] = {"group": self.group}

    def client(self, level: str, role: str = "admin"):
        key = f"{level}:{role}"
        if key not in self._clients:
            self._clients[key] = self.api.as_(self.make.admin(self.tree[level], role=role))
        return self._clients[key]

    def import_rows(self, rows: list[dict[str, Any]], **body) -> Any:
        response = self.group.post("number-imports", {"rows": rows, **body})
        assert response.status_code in (200, 201, 202), response.json
        return response.json

    def stock(self, *numbers: str, publish: bool = True) -> list[dict[str, Any]]:
        """Import and (by default) publish numbers; returns them as the API shows them."""
        self.import_rows([{"number": n} for n in numbers], publish=publish)
        return [self.group.get(f"numbers/{n}").json for n in numbers]

    def subscription(self, level: str = "tenant", **kwargs):
        return self.make.subscription(self.tree[level], **kwargs)

    def transfer(self, level: str, *numbers: str) -> None:
        response = self.group.post(
            "numbers/transfer",
            {"organization_id": str(self.tree[level].id), "numbers": list(numbers)},
        )
        assert response.status_code == 200, response.json

    def grant(self, subscription, country="BE", number_type="geographic", quantity=1) -> bool:
        """Give `subscription` number entitlements in the catalogue's ledger, when it exists."""
        if "entitlements" not in Base.metadata.tables:
            return False
        from fusion_core.catalog.models import Entitlement, Sku

        with self.app.app_context(), acting_as(SYSTEM):
            session = get_db().session
            key = f"number:{country}:{number_type}"
            sku = Sku(
                kind="number",
                name=f"{country} {number_type} number",
                external_reference=f"NUM-{country}-{number_type}-{subscription.id.hex[:6]}",
                country=country,
                number_type=number_type,
                key=key,
                org_path=self.tree["group"].org_path,
            )
            session.add(sku)
            session.flush()
            session.add(
                Entitlement(
                    subscription_id=subscription.id,
                    sku_id=sku.id,
                    ordered=quantity,
                    consumed=0,
                    org_path=subscription.org_path,
                )
            )
            session.commit()
        return True

    def entitlement(self, subscription) -> tuple[int, int] | None:
        if "entitlements" not in Base.metadata.tables:
            return None
        from sqlalchemy import select

        from fusion_core.catalog.models import Entitlement

        with self.app.app_context():
            ent = get_db().session.scalar(
                select(Entitlement).where(Entitlement.subscription_id == subscription.id)
            )
            return ent.ordered, ent.consumed


@pytest.fixture
def nm(app, api, make) -> Numbering:
    return Numbering(app, api, make)
