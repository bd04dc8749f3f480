"""register_sku_kinds: plugins declare the licences they consume; a group's licence SKUs must
be of a registered kind, and a kind claimed twice stops start-up naming both plugins."""

from __future__ import annotations

import importlib
import types
from pathlib import Path

import pytest

from fusion_core.app import create_app
from fusion_core.hookspecs import hookimpl
from fusion_core.registry import PluginConflict, SkuKind
from fusion_core.testing import settings_for_tests

EXAMPLE_DIR = Path(__file__).parent.parent / "plugins" / "fusion_example"


def _build(tmp_path, *plugins):
    return create_app(
        {
            **settings_for_tests(f"sqlite:///{tmp_path / 'kinds.db'}", tmp_path, PLUGINS=[]),
            "PLUGIN_OBJECTS": list(plugins),
        }
    )


def _plugin(name: str, *kinds: str):
    module = types.ModuleType(name)
    module.register_sku_kinds = hookimpl(lambda: [SkuKind(k, k.title()) for k in kinds])
    return name, module


def test_register_sku_kinds_of_the_core_the_connectors_and_the_example(app, tmp_path, monkeypatch):
    registry = app.extensions["fusion"].registry
    owners = {key: registry.owners[("sku_kinds", key)] for key in registry.sku_kinds}
    assert owners["fusion_user"] == owners["sip_channel"] == "fusion_core.builtin"
    assert owners["teams_seat"] == "teams"
    assert owners["anywherenow_seat"] == "anywherenow"

    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))
    example = importlib.import_module("fusion_example.plugin")
    alone = _build(tmp_path, ("example", example)).extensions["fusion"].registry
    assert sorted(alone.sku_kinds) == ["example_seat", "fusion_user", "sip_channel"]
    assert alone.owners[("sku_kinds", "example_seat")] == "example"


def test_a_kind_registered_twice_stops_start_up_naming_both(tmp_path):
    with pytest.raises(PluginConflict) as error:
        _build(tmp_path, _plugin("alpha", "pager_seat"), _plugin("beta", "pager_seat"))
    assert "'pager_seat'" in str(error.value)
    assert "'alpha'" in str(error.value) and "'beta'" in str(error.value)
    with pytest.raises(PluginConflict, match=r"fusion_core\.builtin"):
        _build(tmp_path, _plugin("gamma", "fusion_user"))


def test_a_plugin_kind_can_be_sold_and_consumed(catalog):
    seat = catalog.sku(
        "Teams seat", kind="license", license_type="teams_seat", external_reference="TEAMS-1"
    )
    assert seat["key"] == "teams_seat"
    catalog.product("Teams 5", {"Teams seat": 5})
    order = catalog.new_tenant("Seats", Teams_5=1)
    hold = catalog.consume(order["subscription_id"], "teams_seat", 2, ("teams_users", "u1"))
    assert hold.quantity == 2
    assert catalog.entitlements(order["subscription_id"])["TEAMS-1"]["available"] == 3
    unknown = catalog.client.post(
        "skus",
        {
            "name": "Pager",
            "kind": "license",
            "license_type": "pager_seat",
            "external_reference": "P-1",
        },
    )
    assert unknown.status_code == 422
    assert "teams_seat" in unknown.json["errors"]["license_type"][0]
