"""Catalogue pages through Flask's test client: products, SKUs, orders with their preview,
the Licenses card and tab with their holders, the reports and the exports."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from contextlib import contextmanager

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from fusion_core.catalog import ledger
from fusion_core.catalog.models import Entitlement, EntitlementHold, Order, Product, Sku
from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db
from fusion_core.hierarchy.models import Organization, Subscription


def text(response) -> str:
    return response.get_data(as_text=True)


def nav_of(page: str) -> str:
    return re.search(r'<nav aria-label="Sections">(.*?)</nav>', page, re.S).group(1)


APP: list = []


@pytest.fixture(autouse=True)
def _the_app(app):
    APP[:] = [app]


@contextmanager
def db():
    """The database as the tests see it (each app context has its own session)."""
    with APP[0].app_context():
        yield get_db().session


def counts() -> dict[str, int]:
    with db() as session:
        return {
            m.__name__: session.scalar(select(func.count()).select_from(m))
            for m in (Order, Entitlement, EntitlementHold, Organization, Subscription, Product)
        }


@pytest.fixture
def shop(api, make):
    """A tree, a group admin, two SKUs, a product, and a tenant's subscription with 3 users."""
    tree = make.tree()
    admin = make.admin(tree["group"])
    client = api.as_(admin)
    user = client.post(
        "skus",
        {
            "name": "Fusion user",
            "kind": "license",
            "license_type": "fusion_user",
            "external_reference": "FU-1",
        },
    ).json
    number = client.post(
        "skus",
        {
            "name": "BE number",
            "kind": "number",
            "country": "BE",
            "number_type": "geographic",
            "external_reference": "NUM-BE",
        },
    ).json
    starter = client.post(
        "products",
        {
            "name": "Starter",
            "lines": [
                {"sku_id": user["id"], "quantity": 1},
                {"sku_id": number["id"], "quantity": 2},
            ],
            "setup_price": "10.00",
            "monthly_price": "4.50",
            "currency": "EUR",
            "markups": [
                {"tier": "reseller", "percent": "12.5", "starts_on": "2020-01-01"},
                {"tier": "reseller", "percent": "99", "starts_on": "2999-01-01"},
                {"tier": "distributor", "percent": "5", "starts_on": "2020-01-01"},
            ],
        },
    ).json
    sub = make.subscription(tree["tenant"], "teams")
    placed = client.post(
        "orders",
        {
            "type": "change",
            "subscription_id": str(sub.id),
            "bss_reference": "BSS-1",
            "lines": [{"product_id": starter["id"], "quantity": 3}],
        },
    )
    assert placed.status_code == 201, placed.json
    return {
        "tree": tree,
        "admin": admin,
        "client": client,
        "user": user,
        "number": number,
        "starter": starter,
        "sub": sub,
    }


def consume(sub_id, key, n, holder):
    with db() as session, acting_as(SYSTEM):
        ledger.consume(session, sub_id, key, n, holder)
        session.commit()


def test_group_admin_sees_products_orders_reports_and_a_reseller_no_orders(portal, make, shop):
    group = portal(shop["admin"])
    nav = nav_of(text(group.get("/products")))
    assert ">Products</a>" in nav and ">Orders</a>" in nav and ">Reports</a>" in nav
    reseller = portal(make.admin(shop["tree"]["reseller"]))
    page = reseller.get("/products")
    assert page.status_code == 200 and "Starter" in text(page)
    assert "New product" not in text(page)  # read only
    nav = nav_of(text(page))
    assert ">Orders</a>" not in nav and ">Products</a>" in nav
    for path in ("/orders", "/orders/new", f"/orders/{uuid.uuid4()}", "/orders/export"):
        assert reseller.get(path).status_code == 404, path
    refused = reseller.post("/orders/new", {"type": "change", "action": "place"})
    assert refused.status_code == 404
    assert reseller.get("/products/new").status_code == 200  # the form; the service refuses:
    before = counts()
    post = reseller.post(
        "/products/new",
        {"name": "Mine", "lines-0-sku_id": shop["user"]["id"], "lines-0-quantity": "1"},
    )
    assert post.status_code == 422  # the service's refusal, shown above the form
    assert re.search(r'<p role="alert" class="field-error">[^<]*group', text(post))
    assert counts() == before


def test_product_list_searches_sorts_and_pages(portal, shop):
    client = portal(shop["admin"])
    for i in range(26):
        shop["client"].post(
            "products",
            {"name": f"Bulk {i:02d}", "lines": [{"sku_id": shop["user"]["id"], "quantity": 1}]},
        )
    first = text(client.get("/products?sort=name"))
    assert "Bulk 00" in first and "Starter" not in first and 'rel="next"' in first
    second = text(client.get("/products?sort=name&page=2"))
    assert "Starter" in second and "Bulk 00" not in second
    found = text(client.get("/products?q=start"))
    assert "Starter" in found and "Bulk 01" not in found
    desc = text(client.get("/products?sort=-name"))
    assert desc.index("Starter") < desc.index("Bulk 25")


def test_create_product_with_the_sku_picker_and_field_errors(portal, shop):
    client = portal(shop["admin"])
    form = client.get("/products/new")
    assert shop["number"]["id"] in text(form)
    bad = client.post(
        "/products/new",
        {
            "name": "Duo",
            "lines-0-sku_id": shop["user"]["id"],
            "lines-0-quantity": "0",
            "setup_price": "5",
        },
    )
    assert bad.status_code == 422
    body = text(bad)
    assert 'id="e-lines-0-qty"' in body and "greater than or equal to 1" in body
    ok = client.post(
        "/products/new",
        {
            "name": "Duo",
            "lines-0-sku_id": shop["user"]["id"],
            "lines-0-quantity": "2",
            "lines-1-sku_id": shop["number"]["id"],
            "lines-1-quantity": "1",
            "setup_price": "5",
            "currency": "EUR",
            "markups-0-tier": "reseller",
            "markups-0-percent": "7",
            "markups-0-starts_on": "2026-01-01",
        },
        follow_redirects=True,
    )
    assert ok.status_code == 200 and "Product Duo created." in text(ok)
    with db() as session:
        product = session.scalar(select(Product).where(Product.name == "Duo"))
        lines = {(li.sku.external_reference, li.quantity) for li in product.lines}
    assert lines == {("FU-1", 2), ("NUM-BE", 1)}
    assert product.markups == [{"tier": "reseller", "percent": "7.00", "starts_on": "2026-01-01"}]


@pytest.mark.parametrize("rows", ["many", "-3", "99999999999"])
def test_a_tampered_row_count_is_read_as_the_default(portal, shop, rows):
    client = portal(shop["admin"])
    client.get("/products/new")
    bad = client.post(
        "/products/new",
        {"name": "Tamper", "rows": rows, "lines-0-sku_id": shop["user"]["id"]},
        follow_redirects=True,
    )
    assert bad.status_code == 200 and "Product Tamper created." in text(bad)
    with db() as session:
        product = session.scalar(select(Product).where(Product.name == "Tamper"))
        assert [(li.sku.external_reference, li.quantity) for li in product.lines] == [("FU-1", 1)]


def test_edit_deactivate_and_delete_refused_while_ordered(portal, shop):
    client = portal(shop["admin"])
    pid = shop["starter"]["id"]
    edit = client.get(f"/products/{pid}/edit")
    assert 'value="Starter"' in text(edit)
    saved = client.post(
        f"/products/{pid}/edit",
        {
            "name": "Starter plus",
            "lines-0-sku_id": shop["user"]["id"],
            "lines-0-quantity": "2",
            "setup_price": "10",
            "monthly_price": "4.5",
            "currency": "EUR",
        },
        follow_redirects=True,
    )
    assert "Product Starter plus saved." in text(saved)
    off = client.post(f"/products/{pid}/active", {"active": "no"}, follow_redirects=True)
    assert "deactivated" in text(off) and ">inactive<" in text(off)
    confirm = client.get(f"/products/{pid}/delete")
    assert "cannot be deleted now" in text(confirm) and "deactivate it instead" in text(confirm)
    refused = client.post(f"/products/{pid}/delete")
    assert refused.status_code == 409 and "BSS-1" in text(refused)
    with db() as session:
        assert session.get(Product, uuid.UUID(pid)) is not None
    spare = (
        shop["client"]
        .post(
            "products", {"name": "Spare", "lines": [{"sku_id": shop["user"]["id"], "quantity": 1}]}
        )
        .json
    )
    gone = client.post(f"/products/{spare['id']}/delete", follow_redirects=True)
    assert "Product Spare deleted." in text(gone)


def test_sku_list_and_create(portal, shop):
    client = portal(shop["admin"])
    assert "NUM-BE" in text(client.get("/skus"))
    bad = client.post(
        "/skus/new",
        {
            "kind": "number",
            "name": "X",
            "external_reference": "X-1",
            "country": "be",
            "number_type": "mobile",
        },
    )
    assert bad.status_code == 422 and 'id="f-country-error"' in text(bad)
    dup = client.post(
        "/skus/new",
        {
            "kind": "license",
            "name": "Dup",
            "external_reference": "FU-1",
            "license_type": "fusion_user",
        },
    )
    assert dup.status_code == 422 and 'id="f-external_reference-error"' in text(dup)
    ok = client.post(
        "/skus/new",
        {
            "kind": "customer_license",
            "name": "M365 E3",
            "external_reference": "M365",
            "code": "M365-E3",
            "country": "ignored",
        },
        follow_redirects=True,
    )
    assert "SKU M365 E3 created." in text(ok)
    with db() as session:
        sku = session.scalar(select(Sku).where(Sku.external_reference == "M365"))
    assert sku.key == "customer:M365-E3" and sku.country is None


def order_form(shop, quantity, action, **extra):
    return {
        "type": "change",
        "subscription_id": str(shop["sub"].id),
        "action": action,
        "lines-0-product_id": shop["starter"]["id"],
        "lines-0-quantity": str(quantity),
        **extra,
    }


def test_preview_shows_the_deltas_and_writes_nothing(portal, shop):
    client = portal(shop["admin"])
    consume(shop["sub"].id, "fusion_user", 1, ("users", "alice"))
    client.get("/orders/new")
    before = counts()
    page = client.post("/orders/new", order_form(shop, 2, "preview"))
    assert page.status_code == 200
    body = text(page)
    rows = re.findall(
        r"<tr >\s*<td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>\s*<td>(\d+)</td>"
        r"<td>(\d+)</td><td>(-?\d+)</td><td>(-?\d+)</td>",
        body,
    )
    assert sorted(rows) == sorted(
        [
            ("Fusion user", "FU-1", "+2", "3", "1", "5", "4"),
            ("BE number", "NUM-BE", "+4", "6", "0", "10", "10"),
        ]
    )
    assert "Nothing has been written yet." in body
    assert counts() == before
    api = shop["client"].post(
        "orders?dry_run=true",
        {
            "type": "change",
            "subscription_id": str(shop["sub"].id),
            "lines": [{"product_id": shop["starter"]["id"], "quantity": 2}],
        },
    )
    assert api.status_code == 200
    by_ref = {r["external_reference"]: r for r in api.json["effect"]}
    assert by_ref["FU-1"]["available_after"] == 4 and by_ref["NUM-BE"]["delta"] == 4
    assert counts() == before


def test_place_order_from_the_form_then_list_filter_and_detail(portal, shop):
    client = portal(shop["admin"])
    client.get("/orders/new")
    placed = client.post("/orders/new", order_form(shop, 1, "place", bss_reference="BSS-2"))
    assert placed.status_code == 302
    detail = text(client.get(placed.headers["Location"]))
    assert "BSS-2" in detail and "completed" in detail and "+2" in detail
    with db() as session:
        ents = {
            e.sku.external_reference: e.ordered
            for e in session.scalars(
                select(Entitlement).where(Entitlement.subscription_id == shop["sub"].id)
            )
        }
    assert ents == {"FU-1": 4, "NUM-BE": 8}
    listing = text(client.get("/orders?q=bss-2"))
    assert "BSS-2" in listing and "BSS-1" not in listing
    by_state = text(client.get("/orders?state=rejected"))
    assert "BSS-1" not in by_state and "No order matches" in by_state
    by_tenant = text(client.get(f"/orders?tenant={shop['tree']['tenant'].id}"))
    assert "BSS-1" in by_tenant and "BSS-2" in by_tenant
    other = text(client.get(f"/orders?tenant={shop['tree']['sibling_tenant'].id}"))
    assert "No order matches" in other


def test_refused_downgrade_shows_the_holders_beside_the_form(portal, shop):
    client = portal(shop["admin"])
    consume(shop["sub"].id, "fusion_user", 2, ("users", "alice"))
    consume(shop["sub"].id, "fusion_user", 1, ("users", "bob"))
    client.get("/orders/new")
    preview = text(client.post("/orders/new", order_form(shop, -1, "preview")))
    assert "would be rejected" in preview and "users:alice (2)" in preview
    before = counts()
    page = client.post("/orders/new", order_form(shop, -1, "place"))
    assert page.status_code == 409
    body = text(page)
    assert "The order was rejected" in body
    holders = re.search(r'<ul class="holders">(.*?)</ul>', body, re.S).group(1)
    assert "alice" in holders and "bob" in holders and "(2)" in holders
    after = counts()
    assert after["Order"] == before["Order"] + 1  # kept as rejected; nothing else changed
    assert {k: v for k, v in after.items() if k != "Order"} == {
        k: v for k, v in before.items() if k != "Order"
    }


def test_licenses_card_and_tab_drill_down_to_holders(portal, make, shop):
    consume(shop["sub"].id, "number:BE:geographic", 2, ("numbers", "+3221234567"))
    client = portal(shop["admin"])
    page = text(client.get(f"/orgs/{shop['tree']['tenant'].id}"))
    card = re.search(r'<article class="card" id="card-licenses">(.*?)</article>', page, re.S)
    assert card, page
    assert "<td>6</td><td>2</td><td>4</td>" in card.group(1)  # BE number: 6 ordered, 2 used
    link = re.search(r"<a href='(/licenses/[^']+)'>BE number</a>", card.group(1)).group(1)
    holders = text(client.get(link))
    assert "+3221234567" in holders and "numbers" in holders
    tab = text(client.get(f"/subscriptions/{shop['sub'].id}?tab=licenses"))
    assert "<td>3</td><td>0</td><td>3</td>" in tab  # Fusion user: 3 ordered, none used
    tenant_admin = portal(make.admin(shop["tree"]["tenant"]))
    assert tenant_admin.get(link).status_code == 200
    sibling = portal(make.admin(shop["tree"]["sibling_tenant"]))
    assert sibling.get(link).status_code == 404


def test_report_page_and_exports_with_prices_and_markups(portal, make, shop):
    client = portal(shop["admin"])
    page = text(client.get("/reports/licenses"))
    assert "FU-1" in page and "NUM-BE" in page
    csv_rows = list(
        csv.DictReader(
            io.StringIO(
                text(
                    client.get("/reports/licenses/export?format=csv&view=products&group_by=tenant")
                )
            )
        )
    )
    assert len(csv_rows) == 1
    row = csv_rows[0]
    assert (
        row["product_name"],
        row["quantity"],
        row["setup_price"],
        row["monthly_price"],
        row["currency"],
    ) == ("Starter", "3", "10.0000", "4.5000", "EUR")
    # The 2999 markup has not started: the 2020 one is in effect for the reseller tier.
    assert (row["markup_tier"], row["markup_percent"]) == ("reseller", "12.50")
    dist = list(
        csv.DictReader(
            io.StringIO(
                text(
                    client.get("/reports/licenses/export?format=csv&view=products&tier=distributor")
                )
            )
        )
    )
    assert dist[0]["markup_percent"] == "5.00"
    xlsx = client.client.get(  # binary: not through the CSRF-reading helper
        client.base + "/reports/licenses/export?format=xlsx&view=products&group_by=reseller"
    )
    sheet = load_workbook(io.BytesIO(xlsx.data), read_only=True).active
    header, *values = [list(r) for r in sheet.iter_rows(values_only=True)]
    got = dict(zip(header, values[0], strict=True))
    assert got["organization_kind"] == "reseller" and got["quantity"] == 3
    assert got["markup_percent"] == "12.50"
    # A reseller sees its own tier's markup whatever it asks for; the API gives the same.
    reseller = make.admin(shop["tree"]["reseller"])
    api = json.loads(
        text(
            portal(reseller).get(
                "/reports/licenses/export?format=json&view=products&tier=distributor"
            )
        )
    )
    assert [r["markup_tier"] for r in api] == ["reseller"]


def test_orders_export_parses_back(portal, api, shop):
    csv_text = shop["client"].get("orders?format=csv&state=completed")
    rows = list(csv.DictReader(io.StringIO(csv_text.get_data(as_text=True))))
    assert [(r["bss_reference"], r["state"], r["lines"]) for r in rows] == [
        ("BSS-1", "completed", "Starter x3")
    ]
    assert set(rows[0]["effect"].split("; ")) == {"FU-1 +3", "NUM-BE +6"}
    as_json = shop["client"].get("orders?format=json").json
    assert as_json[0]["subscription_id"] == str(shop["sub"].id)
    xlsx = shop["client"].get("orders?format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data), read_only=True).active
    header, first = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert dict(zip(header, first, strict=True))["tenant_name"] == shop["tree"]["tenant"].name
    portal_csv = text(portal(shop["admin"]).get("/orders/export?format=csv&q=bss-1"))
    assert "BSS-1" in portal_csv
    none = shop["client"].get("orders?format=csv&state=rejected").get_data(as_text=True)
    assert none.strip().splitlines() == [
        ",".join(__import__("fusion_core.catalog.reports", fromlist=["x"]).ORDER_COLUMNS)
    ]
