"""Placing an order in a real browser: fill the form, preview, place; screenshots to look at."""

from __future__ import annotations

from browsing import shot, sign_in


def test_order_with_preview_in_the_browser(page, url, api, make):
    tree = make.tree()
    admin = make.admin(tree["group"])
    client = api.as_(admin)
    sku = client.post(
        "skus",
        {
            "name": "Fusion user",
            "kind": "license",
            "license_type": "fusion_user",
            "external_reference": "FU-1",
        },
    ).json
    client.post("products", {"name": "Starter", "lines": [{"sku_id": sku["id"], "quantity": 2}]})
    sub = make.subscription(tree["tenant"], "teams", name="Shop Teams")
    sign_in(page, url, admin, "127.0.0.1")
    page.get_by_role("link", name="Orders", exact=True).click()
    page.get_by_role("button", name="New order").click()
    page.get_by_label("Order type").select_option("change")
    page.get_by_label("Subscription", exact=True).select_option(str(sub.id))
    page.get_by_label("Product 1").select_option(label="Starter")
    page.get_by_label("Quantity 1").fill("3")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview table")
    assert "+6" in preview.inner_text() and "Nothing has been written yet." in page.content()
    shot(page, "order-preview")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_selector("text=completed")
    assert "+6" in page.locator("main").inner_text()
    shot(page, "order-placed")
