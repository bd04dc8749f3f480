"""Assignment to plugin targets: validated by the plugin, acted on in a job, released when the
target goes away."""

from __future__ import annotations

import pluggy
import pytest
from sqlalchemy import select

from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db
from fusion_core.hookspecs import hookimpl
from fusion_core.jobs.models import SyncStatus
from fusion_core.numbering import services
from fusion_core.numbering.targets import EXTENSION_KEY, NumberTarget, collect
from fusion_core.plugins import build_plugin_manager
from fusion_core.registry import PluginConflict

acted: list[tuple[str, str, str]] = []
broken: set[str] = set()


def validate_line(number, ref):
    return None if ref.startswith("line-") else f"{ref!r} is not a line"


def act_on_line(number, action, ref):
    if ref in broken:
        raise RuntimeError(f"{ref} did not answer")
    acted.append((number.e164, action, ref))


TARGETS = {
    "test.line": NumberTarget("test.line", "Test line", validate_line, act_on_line),
    "test.elsewhere": NumberTarget(
        "test.elsewhere", "Elsewhere", validate_line, act_on_line, platforms=("nowhere",)
    ),
}


@pytest.fixture
def allocated(nm, app, monkeypatch):
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, TARGETS)
    acted.clear()
    broken.clear()
    nm.stock("+3225551234")
    sub = nm.subscription()
    nm.grant(sub)
    response = nm.group.post("numbers/+3225551234/allocate", {"subscription_id": str(sub.id)})
    assert response.status_code == 200, response.json
    return "+3225551234"


def sync_state(app, target: str) -> tuple[str, str | None]:
    with app.app_context():
        status = get_db().session.scalar(select(SyncStatus).where(SyncStatus.target == target))
        return status.state, status.last_error


def test_a_tenant_assigns_its_number_and_the_plugin_acts_after_commit(nm, app, allocated):
    tenant = nm.client("tenant")
    response = tenant.post(
        f"numbers/{allocated}/assign", {"target_type": "test.line", "target_ref": "line-1"}
    )
    assert response.status_code == 200, response.json
    assert (response.json["state"], response.json["target_type"], response.json["target_ref"]) == (
        "assigned",
        "test.line",
        "line-1",
    )
    assert acted == [(allocated, "assign", "line-1")]
    assert sync_state(app, "test.line") == ("in_sync", None)
    found = tenant.get("numbers?target_type=test.line&target_ref=line-1").json["items"]
    assert [n["e164"] for n in found] == [allocated]

    # Assigned numbers are not released behind their target's back.
    refused = tenant.post(f"numbers/{allocated}/release", {})
    assert refused.status_code == 409
    assert refused.json["state"] == "assigned"

    off = tenant.post(f"numbers/{allocated}/unassign", {})
    assert off.status_code == 200
    assert (off.json["state"], off.json["target_type"]) == ("allocated", None)
    assert acted[-1] == (allocated, "unassign", "line-1")


def test_targets_are_validated(nm, allocated):
    tenant = nm.client("tenant")
    cases = [
        (
            {"target_type": "test.line", "target_ref": "desk-1"},
            "target_ref",
            "'desk-1' is not a line",
        ),
        ({"target_type": "test.nothing", "target_ref": "line-1"}, "target_type", "Use one of"),
        (
            {"target_type": "test.elsewhere", "target_ref": "line-1"},
            "target_type",
            "serves nowhere",
        ),
    ]
    for body, field, reason in cases:
        response = tenant.post(f"numbers/{allocated}/assign", body)
        assert response.status_code == 422, body
        assert reason in response.json["errors"][field][0]
    assert tenant.get(f"numbers/{allocated}").json["state"] == "allocated"


def test_a_failing_plugin_marks_the_sync_failed(nm, app, allocated):
    broken.add("line-9")
    response = nm.client("tenant").post(
        f"numbers/{allocated}/assign", {"target_type": "test.line", "target_ref": "line-9"}
    )
    assert response.status_code == 200
    state, error = sync_state(app, "test.line")
    assert state == "failed"
    assert "line-9 did not answer" in error


def test_a_removed_target_releases_its_numbers(nm, app, allocated):
    nm.client("tenant").post(
        f"numbers/{allocated}/assign", {"target_type": "test.line", "target_ref": "line-1"}
    )
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        assert services.target_gone(session, "test.line", "line-1") == 1
        session.commit()
    number = nm.group.get(f"numbers/{allocated}").json
    assert (number["state"], number["target_ref"]) == ("allocated", None)
    history = nm.group.get(f"numbers/{allocated}/history").json
    assert history[-1]["reason"] == "test.line line-1 was removed"


class One:
    @hookimpl
    def register_number_targets(self):
        return [NumberTarget("dup.line", "A", validate_line)]


class Two:
    @hookimpl
    def register_number_targets(self):
        return [NumberTarget("dup.line", "B", validate_line)]


class FakeApp:
    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.extensions = {"fusion.plugins": pm}


def test_a_target_key_claimed_twice_is_refused_naming_both_plugins():
    pm = build_plugin_manager([], [("one", One()), ("two", Two())])
    with pytest.raises(PluginConflict) as error:
        collect(FakeApp(pm))
    assert "number target 'dup.line' is registered by both plugin" in str(error.value)
    assert {"'one'", "'two'"} <= set(str(error.value).split())
    single = build_plugin_manager([], [("one", One())])
    assert collect(FakeApp(single))["dup.line"].label == "A"
