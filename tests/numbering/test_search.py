"""Search by prefix, pattern and filters, keyset-paginated by E.164."""

from __future__ import annotations


def test_prefix_pattern_and_filters(nm):
    nm.import_rows(
        [
            {"first": "+3225550000", "last": "+3225550019"},
            {"number": "+3280012345", "vanity_class": "gold"},
            {"number": "+32475123456"},
            {"number": "+442079460000"},
        ],
        publish=True,
    )
    nm.group.post("numbers/+3225550005/unpublish", {})

    def e164s(query):
        response = nm.group.get(f"numbers?{query}")
        assert response.status_code == 200, response.json
        return [n["e164"] for n in response.json["items"]]

    assert e164s("prefix=%2B322555000") == [f"+322555000{i}" for i in range(10)]
    assert e164s("pattern=%2B32255500%3F7") == ["+3225550007", "+3225550017"]
    assert e164s("pattern=%2B32*5") == ["+3225550005", "+3225550015", "+3280012345"]
    assert e164s("country=GB") == ["+442079460000"]
    assert e164s("type=mobile") == ["+32475123456"]
    assert e164s("type=toll_free&vanity_class=gold") == ["+3280012345"]
    assert e164s("state=imported") == ["+3225550005"]
    assert e164s("prefix=%2B32255500&state=imported") == ["+3225550005"]
    assert e164s("prefix=%2B32255500&limit=3") == ["+3225550000", "+3225550001", "+3225550002"]


def test_bad_search_arguments_name_the_field(nm):
    for query, field in (
        ("prefix=32", "prefix"),
        ("pattern=%2B32%25", "pattern"),
        ("type=landline", "type"),
        ("limit=1000", "limit"),
        ("cursor=abc", "cursor"),
    ):
        response = nm.group.get(f"numbers?{query}")
        assert response.status_code == 422, query
        assert field in response.json["errors"], (query, response.json)


def test_keyset_pages_walk_everything_once(nm):
    nm.import_rows([{"first": "+3225550000", "last": "+3225550104"}])
    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=20" + (f"&cursor={cursor.replace('+', '%2B')}" if cursor else "")
        page = nm.group.get(f"numbers?{query}").json
        seen += [n["e164"] for n in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 6
    assert seen == [f"+32255500{i:02d}" if i < 100 else f"+3225550{i}" for i in range(105)]


def test_search_by_tenant_subscription_and_target(nm):
    nm.stock("+3225550001", "+3225550002")
    sub = nm.subscription()
    nm.grant(sub)
    nm.group.post("numbers/+3225550002/allocate", {"subscription_id": str(sub.id)})
    tenant_id = nm.tree["tenant"].id
    by_tenant = nm.group.get(f"numbers?tenant_id={tenant_id}").json["items"]
    assert [n["e164"] for n in by_tenant] == ["+3225550002"]
    by_sub = nm.group.get(f"numbers?subscription_id={sub.id}").json["items"]
    assert [n["e164"] for n in by_sub] == ["+3225550002"]
    assert nm.group.get("numbers?target_type=example.line").json["items"] == []
    not_tenant = nm.group.get(f"numbers?tenant_id={nm.tree['reseller'].id}")
    assert not_tenant.status_code == 422


def test_country_narrows_or_empties_a_prefix(nm):
    """`country` is applied as its calling code's range too (an index range on e164): with a
    prefix of the same country the answer is the prefix's numbers of that country, with a
    prefix of another country nothing, and a prefix shorter than the code changes nothing."""
    nm.import_rows(
        [
            {"number": "+3225550000"},
            {"number": "+32475123456"},
            {"number": "+442079460000"},
            {"number": "+31201234567"},
        ]
    )

    def e164s(query):
        response = nm.group.get(f"numbers?{query}")
        assert response.status_code == 200, response.json
        return [n["e164"] for n in response.json["items"]]

    assert e164s("country=be") == ["+3225550000", "+32475123456"]
    assert e164s("country=BE&prefix=%2B3") == ["+3225550000", "+32475123456"]
    assert e164s("country=BE&prefix=%2B324") == ["+32475123456"]
    assert e164s("country=BE&prefix=%2B44") == []
    assert e164s("country=NL&pattern=%2B3*7") == ["+31201234567"]
    assert e164s("country=GB&type=geographic") == ["+442079460000"]


def test_a_tenant_pages_through_its_own_numbers_only(nm):
    """A tenant's search is its own numbers, by prefix and keyset pages, never a pool's."""
    numbers = [f"+32255500{i:02d}" for i in range(7)]
    nm.stock(*numbers, "+3225550099")
    sub = nm.subscription()
    nm.grant(sub, quantity=len(numbers))
    for n in numbers:
        response = nm.group.post(f"numbers/{n}/allocate", {"subscription_id": str(sub.id)})
        assert response.status_code == 200, response.json
    tenant = nm.client("tenant")
    seen, cursor = [], None
    while True:
        query = "limit=3" + (f"&cursor={cursor.replace('+', '%2B')}" if cursor else "")
        page = tenant.get(f"numbers?{query}").json
        seen += [n["e164"] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == numbers
    mine = tenant.get("numbers?prefix=%2B3225550&state=allocated").json["items"]
    assert [n["e164"] for n in mine] == numbers
    assert tenant.get("numbers?prefix=%2B32255500&country=GB").json["items"] == []
