"""Orders change a subscription's entitlements by `line quantity * SKU quantity`, in one
transaction: new tenant, new subscription, upgrade, downgrade, refused downgrade."""

from __future__ import annotations

from sqlalchemy import func, select

from fusion_core.catalog.models import Entitlement, EntitlementHold, Order
from fusion_core.db import get_db
from fusion_core.hierarchy.models import Organization, Subscription


def _count(app, model, *where) -> int:
    with app.app_context():
        return get_db().session.scalar(select(func.count()).select_from(model).where(*where))


def test_new_tenant_order_creates_tenant_subscription_and_entitlements(catalog):
    order = catalog.new_tenant("Bakery", Starter=3, Trunk_10=2)

    assert order["state"] == "completed"
    assert order["type"] == "new_tenant"
    assert order["bss_reference"] == "BSS-Bakery"
    tenant = catalog.client.get(f"tenants/{order['tenant_id']}").json
    assert tenant["name"] == "Bakery"
    assert tenant["path"][:-1] == [
        str(catalog.tree[k].id) for k in ("group", "distributor", "reseller")
    ]
    subscription = catalog.client.get(f"subscriptions/{order['subscription_id']}").json
    assert (subscription["platform"], subscription["tenant_id"]) == ("teams", tenant["id"])

    ents = catalog.entitlements(order["subscription_id"])
    figures = {ref: (e["ordered"], e["consumed"], e["available"]) for ref, e in ents.items()}
    assert figures == {"FU-1": (3, 0, 3), "NUM-BE-GEO": (3, 0, 3), "SC-1": (20, 0, 20)}
    assert sorted((e["external_reference"], e["delta"]) for e in order["effect"]) == [
        ("FU-1", 3),
        ("NUM-BE-GEO", 3),
        ("SC-1", 20),
    ]
    listed = catalog.client.get("orders?bss_reference=BSS-Bakery").json
    assert [o["id"] for o in listed["items"]] == [order["id"]]


def test_new_subscription_then_upgrade_and_downgrade(catalog):
    tenant = catalog.tree["tenant"]
    created = catalog.order(
        {
            "type": "new_subscription",
            "tenant_id": str(tenant.id),
            "subscription": {"platform": "siptrunk", "name": "Trunks", "billing_id": "B-9"},
            "lines": catalog.lines(Trunk_10=1),
        }
    )
    assert created.status_code == 201, created.json
    sub_id = created.json["subscription_id"]
    assert catalog.entitlements(sub_id)["SC-1"]["ordered"] == 10

    upgrade = catalog.order(
        {"type": "change", "subscription_id": sub_id, "lines": catalog.lines(Trunk_10=2, Starter=1)}
    )
    assert upgrade.status_code == 201, upgrade.json
    ents = catalog.entitlements(sub_id)
    assert {r: e["ordered"] for r, e in ents.items()} == {"SC-1": 30, "FU-1": 1, "NUM-BE-GEO": 1}

    catalog.consume(sub_id, "sip_channel", 4, ("trunks", "pbx-1"))
    downgrade = catalog.order(
        {"type": "change", "subscription_id": sub_id, "lines": catalog.lines(Trunk_10=-2)}
    )
    assert downgrade.status_code == 201, downgrade.json
    assert downgrade.json["effect"][0]["delta"] == -20
    sc = catalog.entitlements(sub_id)["SC-1"]
    assert (sc["ordered"], sc["consumed"], sc["available"]) == (10, 4, 6)


def test_downgrade_below_consumed_is_refused_listing_the_holders(catalog, app):
    order = catalog.new_tenant("Agency", Trunk_10=1, Starter=2)
    sub_id = order["subscription_id"]
    catalog.consume(sub_id, "sip_channel", 6, ("trunks", "pbx-a"))
    catalog.consume(sub_id, "sip_channel", 2, ("trunks", "pbx-b"))
    before = catalog.entitlements(sub_id)

    # Removing both Starters is fine on its own, but the trunk line cannot go: 8 are held.
    refused = catalog.order(
        {
            "type": "change",
            "subscription_id": sub_id,
            "bss_reference": "DOWN-1",
            "lines": catalog.lines(Trunk_10=-1, Starter=-2),
        }
    )
    assert refused.status_code == 409, refused.json
    body = refused.json
    assert body["code"] == "order_rejected"
    assert "SIP channel (SC-1): 10 ordered, 8 consumed, -10 requested" in body["message"]
    assert "trunks:pbx-a (6)" in body["message"] and "trunks:pbx-b (2)" in body["message"]
    [detail] = body["refused"]
    assert sorted((h["holder_id"], h["quantity"]) for h in detail["holders"]) == [
        ("pbx-a", 6),
        ("pbx-b", 2),
    ]
    # Nothing changed, not even the Starter lines that alone would have been accepted.
    assert catalog.entitlements(sub_id) == before
    # The refusal is kept, with its reason, for the billing system to see.
    stored = catalog.client.get(f"orders/{body['order_id']}").json
    assert (stored["state"], stored["bss_reference"]) == ("rejected", "DOWN-1")
    assert stored["reason"] == body["message"]
    assert stored["effect"] is None


def test_rejected_new_tenant_order_leaves_nothing_behind(catalog, app):
    tenants_before = _count(app, Organization, Organization.kind == "tenant")
    subs_before = _count(app, Subscription)
    # A new tenant whose order downgrades can only be refused before anything is created:
    # negative lines are refused as input (422), and nothing at all is stored.
    bad = catalog.order(
        {
            "type": "new_tenant",
            "tenant": {"parent_id": str(catalog.tree["reseller"].id), "name": "Ghost"},
            "subscription": {"platform": "teams", "name": "Ghost Teams"},
            "lines": catalog.lines(Starter=-1),
        }
    )
    assert bad.status_code == 422, bad.json
    assert bad.json["errors"]["lines"]["0"]["quantity"] == ["Only a change order can remove units."]
    # An unknown platform is found while fulfilling: the tenant created so far is rolled back.
    unknown = catalog.order(
        {
            "type": "new_tenant",
            "tenant": {"parent_id": str(catalog.tree["reseller"].id), "name": "Ghost"},
            "subscription": {"platform": "fax", "name": "Ghost Fax"},
            "lines": catalog.lines(Starter=1),
        }
    )
    assert unknown.status_code == 422, unknown.json
    assert "platform" in unknown.json["errors"]
    assert _count(app, Organization, Organization.kind == "tenant") == tenants_before
    assert _count(app, Subscription) == subs_before
    assert _count(app, Entitlement) == 0
    assert _count(app, Order) == 0
    assert catalog.client.get("tenants?q=ghost").json["total"] == 0


def test_rejected_change_order_keeps_no_entitlement_or_hold(catalog, app):
    order = catalog.new_tenant("Florist", Starter=1)
    sub_id = order["subscription_id"]
    catalog.consume(sub_id, "fusion_user", 1, ("users", "alice"))
    refused = catalog.order(
        {
            "type": "change",
            "subscription_id": sub_id,
            "lines": catalog.lines(Starter=-1, Trunk_10=1),
        }
    )
    assert refused.status_code == 409, refused.json
    # The trunk line of the refused order did not create an SC-1 entitlement.
    assert set(catalog.entitlements(sub_id)) == {"FU-1", "NUM-BE-GEO"}
    assert _count(app, EntitlementHold) == 1
    states = sorted(o["state"] for o in catalog.client.get("orders").json["items"])
    assert states == ["completed", "rejected"]


def test_order_lines_are_validated_naming_the_field(catalog):
    other = catalog.make.group("Other")
    stranger = catalog.make.org("tenant", other)
    cases = [
        ({"type": "change", "lines": catalog.lines(Starter=1)}, "subscription_id"),
        (
            {
                "type": "new_subscription",
                "tenant_id": str(stranger.id),
                "subscription": {"platform": "teams", "name": "X"},
                "lines": catalog.lines(Starter=1),
            },
            "tenant_id",
        ),
        (
            {
                "type": "new_subscription",
                "tenant_id": str(catalog.tree["tenant"].id),
                "subscription": {"platform": "teams", "name": "X"},
                "lines": [{"product_id": str(stranger.id), "quantity": 1}],
            },
            "lines",
        ),
    ]
    for body, fieldname in cases:
        response = catalog.order(body)
        assert response.status_code == 422, (body, response.json)
        assert fieldname in response.json["errors"], response.json
    assert catalog.client.get("orders").json["total"] == 0
