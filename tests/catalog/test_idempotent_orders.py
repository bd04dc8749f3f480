"""An Idempotency-Key makes a BSS retry safe: the same key and body answer the first result
and create nothing; the same key with another body is refused, naming the header."""

from __future__ import annotations

from sqlalchemy import func, select

from fusion_core.catalog.models import Order
from fusion_core.db import get_db
from fusion_core.hierarchy.models import Organization


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        s = get_db().session
        tenants = s.scalar(
            select(func.count()).select_from(Organization).where(Organization.kind == "tenant")
        )
        return tenants, s.scalar(select(func.count()).select_from(Order))


def _body(catalog, name="Retry Ltd", starters=2):
    return {
        "type": "new_tenant",
        "bss_reference": "BSS-77",
        "tenant": {"parent_id": str(catalog.tree["reseller"].id), "name": name},
        "subscription": {"platform": "teams", "name": "Teams"},
        "lines": catalog.lines(Starter=starters),
    }


def test_a_retry_returns_the_first_result_and_creates_nothing(catalog, app):
    first = catalog.order(_body(catalog), key="bss-77-a")
    assert first.status_code == 201, first.json
    after_first = _counts(app)

    retry = catalog.order(_body(catalog), key="bss-77-a")
    assert retry.status_code == 201
    assert retry.json == first.json
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert _counts(app) == after_first
    ents = catalog.entitlements(first.json["subscription_id"])
    assert ents["FU-1"]["ordered"] == 2  # not 4


def test_the_same_key_with_another_body_is_refused_naming_the_header(catalog, app):
    first = catalog.order(_body(catalog), key="bss-78")
    assert first.status_code == 201
    before = _counts(app)
    other = catalog.order(_body(catalog, starters=5), key="bss-78")
    assert other.status_code == 422, other.json
    assert other.json["location"] == "header"
    assert first.json["id"] in other.json["errors"]["Idempotency-Key"][0]
    assert _counts(app) == before


def test_a_rejected_order_replays_its_rejection(catalog, app):
    order = catalog.new_tenant("Held", Starter=1)
    sub_id = order["subscription_id"]
    catalog.consume(sub_id, "fusion_user", 1, ("users", "bob"))
    body = {"type": "change", "subscription_id": sub_id, "lines": catalog.lines(Starter=-1)}
    first = catalog.order(body, key="down-1")
    assert first.status_code == 409, first.json
    retry = catalog.order(body, key="down-1")
    assert retry.status_code == 409
    strip = lambda b: {k: v for k, v in b.items() if k != "request_id"}  # noqa: E731
    assert strip(retry.json) == strip(first.json)
    assert retry.json["order_id"] == first.json["order_id"]
    assert catalog.client.get("orders?state=rejected").json["total"] == 1


def test_keys_are_per_group_and_validated(catalog, make, api):
    bad = catalog.order(_body(catalog), key="has space")
    assert bad.status_code == 422
    assert "Idempotency-Key" in bad.json["errors"]
    # Without a key, two identical orders are two orders.
    a = catalog.order(_body(catalog, name="Twice"))
    b = catalog.order(_body(catalog, name="Twice"))
    assert a.status_code == b.status_code == 201
    assert a.json["id"] != b.json["id"]
