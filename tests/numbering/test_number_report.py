"""The number-usage report: counts by state, country and type per organisation or rolled up;
JSON, CSV and XLSX parse back to the same counts; a viewer sees only its subtree."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook


def be(n: int) -> str:
    return f"+322555{n:04d}"


@pytest.fixture
def world(nm):
    """Group pool: 3 available + 1 imported; reseller pool: 2 available; tenant: 2 allocated;
    sibling reseller pool: 1 available; sibling tenant: 1 allocated."""
    nm.stock(*[be(n) for n in range(9)])
    nm.stock("+3232120001", publish=False)
    nm.transfer("reseller", be(2), be(3), be(4), be(5))
    nm.transfer("sibling_reseller", be(6), be(7))
    sub = nm.subscription()
    nm.grant(sub, quantity=5)
    sibling_sub = nm.subscription("sibling_tenant")
    nm.grant(sibling_sub, quantity=5)
    for e164, s in ((be(4), sub), (be(5), sub), (be(7), sibling_sub)):
        response = nm.group.post(f"numbers/{e164}/allocate", {"subscription_id": str(s.id)})
        assert response.status_code == 200, response.json
    return nm


def counts(rows):
    return {
        (r["organization_name"], r["state"], r["country"], r["number_type"]): int(r["count"])
        for r in rows
    }


def fetch(client, fmt, group_by):
    response = client.get("reports/numbers", query_string={"format": fmt, "group_by": group_by})
    assert response.status_code == 200, response.data[:300]
    if fmt == "json":
        return response.json
    if fmt == "csv":
        assert response.headers["Content-Disposition"].endswith(f'numbers-by-{group_by}.csv"')
        return list(csv.DictReader(io.StringIO(response.data.decode())))
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
    header, *rows = list(sheet.values)
    return [dict(zip(header, row, strict=True)) for row in rows]


def names(nm):
    return {level: nm.tree[level].name for level in nm.tree}


def test_per_owner_counts_in_every_format(world):
    n = names(world)
    expected = {
        (n["group"], "available", "BE", "geographic"): 3,
        (n["group"], "imported", "BE", "geographic"): 1,
        (n["reseller"], "available", "BE", "geographic"): 2,
        (n["tenant"], "allocated", "BE", "geographic"): 2,
        (n["sibling_reseller"], "available", "BE", "geographic"): 1,
        (n["sibling_tenant"], "allocated", "BE", "geographic"): 1,
    }
    for fmt in ("json", "csv", "xlsx"):
        assert counts(fetch(world.group, fmt, "tenant")) == expected, fmt
    assert sum(expected.values()) == 10


def test_rolled_up_by_reseller_and_distributor(world):
    n = names(world)
    by_reseller = counts(fetch(world.group, "csv", "reseller"))
    assert by_reseller == {
        (n["group"], "available", "BE", "geographic"): 3,
        (n["group"], "imported", "BE", "geographic"): 1,
        (n["reseller"], "available", "BE", "geographic"): 2,
        (n["reseller"], "allocated", "BE", "geographic"): 2,
        (n["sibling_reseller"], "available", "BE", "geographic"): 1,
        (n["sibling_reseller"], "allocated", "BE", "geographic"): 1,
    }
    by_distributor = counts(fetch(world.group, "xlsx", "distributor"))
    assert by_distributor == {
        (n["group"], "available", "BE", "geographic"): 3,
        (n["group"], "imported", "BE", "geographic"): 1,
        (n["distributor"], "available", "BE", "geographic"): 3,
        (n["distributor"], "allocated", "BE", "geographic"): 3,
    }


def test_a_viewer_sees_only_its_subtree(world):
    n = names(world)
    reseller = counts(fetch(world.client("reseller"), "json", "tenant"))
    assert reseller == {
        (n["reseller"], "available", "BE", "geographic"): 2,
        (n["tenant"], "allocated", "BE", "geographic"): 2,
    }
    # Rolled up to the group, a reseller's rows stop at its own organisation.
    assert counts(fetch(world.client("reseller"), "json", "group")) == {
        (n["reseller"], "available", "BE", "geographic"): 2,
        (n["reseller"], "allocated", "BE", "geographic"): 2,
    }
    tenant = fetch(world.client("tenant"), "csv", "tenant")
    assert counts(tenant) == {(n["tenant"], "allocated", "BE", "geographic"): 2}
    assert {r["organization_id"] for r in tenant} == {str(world.tree["tenant"].id)}


def test_bad_arguments_name_the_field(world):
    response = world.group.get("reports/numbers", query_string={"format": "pdf"})
    assert response.status_code == 422
    assert "format" in response.json["errors"]
    response = world.group.get("reports/numbers", query_string={"group_by": "planet"})
    assert response.status_code == 422
    assert "group_by" in response.json["errors"]
