"""The licence report: per tenant or rolled up, scoped to the viewer, and its JSON, CSV and
XLSX exports parse back to the same figures."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from openpyxl import load_workbook

FIGURES = ("organization_name", "sku_external_reference", "ordered", "consumed", "available")


def _figures(rows) -> set[tuple]:
    return {tuple(row[c] for c in FIGURES) for row in rows}


def _parse(response, fmt: str) -> list[dict]:
    assert response.status_code == 200, response.data[:500]
    if fmt == "json":
        return response.json
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(response.data.decode())))
        for row in rows:
            for c in ("ordered", "consumed", "available"):
                row[c] = int(row[c])
        return rows
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
    header, *values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(header, row, strict=True)) for row in values]


@pytest.fixture
def usage(catalog, make):
    """Two tenants under the reseller, one under its sibling, one directly under the
    distributor; some units consumed."""
    tree = catalog.tree
    a = catalog.new_tenant("Alpha", Starter=2, Trunk_10=1)
    b = catalog.new_tenant("Beta", Starter=1)
    c = catalog.new_tenant("Gamma", parent=tree["sibling_reseller"], Trunk_10=3)
    d = catalog.new_tenant("Delta", parent=tree["distributor"], Starter=4)
    catalog.consume(a["subscription_id"], "sip_channel", 7, ("trunks", "a"))
    catalog.consume(a["subscription_id"], "fusion_user", 1, ("users", "a1"))
    catalog.consume(c["subscription_id"], "sip_channel", 30, ("trunks", "c"))
    catalog.consume(d["subscription_id"], "number:BE:geographic", 2, ("numbers", "d"))
    return {"Alpha": a, "Beta": b, "Gamma": c, "Delta": d}


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
def test_exports_parse_back_to_the_same_figures(catalog, usage, fmt):
    expected = {
        ("Alpha", "FU-1", 2, 1, 1),
        ("Alpha", "NUM-BE-GEO", 2, 0, 2),
        ("Alpha", "SC-1", 10, 7, 3),
        ("Beta", "FU-1", 1, 0, 1),
        ("Beta", "NUM-BE-GEO", 1, 0, 1),
        ("Gamma", "SC-1", 30, 30, 0),
        ("Delta", "FU-1", 4, 0, 4),
        ("Delta", "NUM-BE-GEO", 4, 2, 2),
    }
    response = catalog.client.get(f"reports/licenses?format={fmt}")
    rows = _parse(response, fmt)
    assert len(rows) == len(expected)
    assert _figures(rows) == expected
    assert {row["organization_kind"] for row in rows} == {"tenant"}


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
def test_rollups_by_reseller_distributor_and_group(catalog, usage, fmt):
    tree = catalog.tree
    by_reseller = _parse(
        catalog.client.get(f"reports/licenses?format={fmt}&group_by=reseller"), fmt
    )
    reseller, sibling, distributor = (
        tree[k].name for k in ("reseller", "sibling_reseller", "distributor")
    )
    assert _figures(by_reseller) == {
        (reseller, "FU-1", 3, 1, 2),
        (reseller, "NUM-BE-GEO", 3, 0, 3),
        (reseller, "SC-1", 10, 7, 3),
        (sibling, "SC-1", 30, 30, 0),
        # Delta sits directly under the distributor: it rolls up there.
        (distributor, "FU-1", 4, 0, 4),
        (distributor, "NUM-BE-GEO", 4, 2, 2),
    }
    by_group = _parse(catalog.client.get(f"reports/licenses?format={fmt}&group_by=group"), fmt)
    group = tree["group"].name
    assert _figures(by_group) == {
        (group, "FU-1", 7, 1, 6),
        (group, "NUM-BE-GEO", 7, 2, 5),
        (group, "SC-1", 40, 37, 3),
    }


def test_the_report_is_scoped_to_the_viewers_subtree(catalog, usage, make, api):
    reseller = api.as_(make.admin(catalog.tree["reseller"]))
    rows = reseller.get("reports/licenses").json
    assert {row["organization_name"] for row in rows} == {"Alpha", "Beta"}
    # Grouping above the viewer rolls up into the viewer's own organisation.
    rows = reseller.get("reports/licenses?group_by=distributor").json
    assert {row["organization_name"] for row in rows} == {catalog.tree["reseller"].name}
    assert sum(r["ordered"] for r in rows if r["sku_external_reference"] == "FU-1") == 3
    rival = api.as_(make.admin(make.group("Rival")))
    assert rival.get("reports/licenses").json == []
    bad = reseller.get("reports/licenses?format=pdf")
    assert bad.status_code == 422
    assert "format" in bad.json["errors"]


@pytest.mark.parametrize("group_by", ["reseller", "distributor", "group"])
@pytest.mark.parametrize("view", ["licenses", "products"])
def test_a_tenant_admin_rolls_up_into_their_own_tenant(catalog, usage, make, api, group_by, view):
    from types import SimpleNamespace

    alpha = SimpleNamespace(id=uuid.UUID(usage["Alpha"]["tenant_id"]))
    tenant = api.as_(make.admin(alpha, role="read_only"))
    response = tenant.get(f"reports/licenses?view={view}&group_by={group_by}")
    assert response.status_code == 200, response.json
    rows = response.json
    assert {(r["organization_name"], r["organization_kind"]) for r in rows} == {("Alpha", "tenant")}
    if view == "licenses":
        assert _figures(rows) == {
            ("Alpha", "FU-1", 2, 1, 1),
            ("Alpha", "NUM-BE-GEO", 2, 0, 2),
            ("Alpha", "SC-1", 10, 7, 3),
        }
    else:
        assert {(r["product_name"], r["quantity"]) for r in rows} == {
            ("Starter", 2),
            ("Trunk 10", 1),
        }
