"""Port-ins: validation of the numbers, the one transition table (every legal and illegal
move), country steps, comments, documents, and completion allocating the numbers."""

from __future__ import annotations

import base64
import itertools

import pytest

from fusion_core.numbering.ports import MAX_DOCUMENT_BYTES, PORT_TRANSITIONS

STATES = ("draft", "submitted", "pending", "scheduled", "completed", "rejected", "cancelled")
# How to reach each state from a new draft.
PATHS = {
    "draft": [],
    "submitted": ["submit"],
    "pending": ["submit", "accept"],
    "scheduled": ["submit", "accept", "schedule"],
    "completed": ["submit", "accept", "schedule", "complete"],
    "rejected": ["submit", "reject"],
    "cancelled": ["cancel"],
}
EXPECTED = {  # the table, written out again: the test fails if the code drifts from it
    ("draft", "submit"): "submitted",
    ("draft", "cancel"): "cancelled",
    ("submitted", "accept"): "pending",
    ("submitted", "reject"): "rejected",
    ("submitted", "cancel"): "cancelled",
    ("pending", "schedule"): "scheduled",
    ("pending", "reject"): "rejected",
    ("pending", "cancel"): "cancelled",
    ("scheduled", "schedule"): "scheduled",
    ("scheduled", "complete"): "completed",
    ("scheduled", "reject"): "rejected",
    ("scheduled", "cancel"): "cancelled",
}
_serial = itertools.count()


def fresh_numbers(count=1):
    """Valid Brussels numbers never used before in this test session."""
    base = next(_serial) * 10
    return [f"+322556{base + i:04d}" for i in range(count)]


def body_for(action):
    return {"reject": {"reason": "wrong account"}, "schedule": {"date": "2030-02-01"}}.get(
        action, {}
    )


@pytest.fixture
def sub(nm):
    sub = nm.subscription()
    nm.grant(sub, quantity=500)
    return sub


def new_port(nm, sub, client=None, **body):
    client = client or nm.client("tenant")
    payload = {
        "subscription_id": str(sub.id),
        "numbers": fresh_numbers(),
        "current_carrier": "Old Telco",
        "account_reference": "ACC-42",
        "requested_date": "2030-01-15",
        **body,
    }
    response = client.post("port-ins", payload)
    assert response.status_code == 201, response.json
    return response.json


def drive(nm, port, actions):
    for action in actions:
        client = nm.group if PORT_TRANSITIONS[action].upstream else nm.client("tenant")
        response = client.post(f"port-ins/{port['id']}/{action}", body_for(action))
        assert response.status_code == 200, (action, response.json)
        port = response.json
    return port


def test_the_table_is_the_one_written_here():
    legal = {(s, a): t.target for a, t in PORT_TRANSITIONS.items() for s in t.sources}
    assert legal == EXPECTED


@pytest.mark.parametrize("state", STATES)
def test_every_legal_and_illegal_move_from(nm, sub, state):
    for action in PORT_TRANSITIONS:
        port = drive(nm, new_port(nm, sub), PATHS[state])
        assert port["state"] == state
        client = nm.group if PORT_TRANSITIONS[action].upstream else nm.client("tenant")
        response = client.post(f"port-ins/{port['id']}/{action}", body_for(action))
        if (state, action) in EXPECTED:
            assert response.status_code == 200, (state, action, response.json)
            assert response.json["state"] == EXPECTED[(state, action)]
            assert response.json["comments"][-1]["text"].startswith(action)
        else:
            assert response.status_code == 409, (state, action, response.json)
            assert response.json["state"] == state
            assert f"The port-in is {state}" in response.json["errors"]["state"][0]
            assert nm.group.get(f"port-ins/{port['id']}").json["state"] == state


def test_upstream_moves_are_refused_to_the_tenant(nm, sub):
    port = new_port(nm, sub, submit=True)
    assert port["state"] == "submitted"
    for action in ("accept", "reject"):
        response = nm.client("tenant").post(f"port-ins/{port['id']}/{action}", body_for(action))
        assert response.status_code == 403, response.json
    assert nm.group.get(f"port-ins/{port['id']}").json["state"] == "submitted"
    missing = nm.group.post(f"port-ins/{port['id']}/reject", {})
    assert missing.status_code == 422
    assert "reason" in missing.json["errors"]


def test_completion_creates_and_allocates_the_numbers(nm, sub):
    numbers = fresh_numbers(2)
    block = fresh_numbers(3)
    port = new_port(nm, sub, numbers=numbers, ranges=[{"first": block[0], "last": block[-1]}])
    assert port["count"] == 5
    assert port["numbers"] == numbers + block
    done = drive(nm, port, PATHS["completed"])
    assert done["state"] == "completed"
    for e164 in numbers + block:
        number = nm.group.get(f"numbers/{e164}").json
        assert number["state"] == "allocated"
        assert number["subscription_id"] == str(sub.id)
        assert number["owner_id"] == str(nm.tree["tenant"].id)
        history = nm.group.get(f"numbers/{e164}/history").json
        assert [(h["action"], h["from_state"], h["to_state"]) for h in history] == [
            ("port_in", None, "porting"),
            ("complete_port", "porting", "allocated"),
        ]
        assert history[0]["details"]["port_in"] == port["id"]
    if nm.entitlement(sub) is not None:
        assert nm.entitlement(sub) == (500, 5)
    # The tenant sees them among its numbers.
    mine = nm.client("tenant").get("numbers").json["items"]
    assert [n["e164"] for n in mine] == sorted(numbers + block)


def test_completion_without_entitlements_changes_nothing(nm):
    sub = nm.subscription()
    if not nm.grant(sub, quantity=1):
        pytest.skip("no entitlement ledger in this code base")
    port = drive(nm, new_port(nm, sub, numbers=fresh_numbers(2)), PATHS["scheduled"])
    response = nm.group.post(f"port-ins/{port['id']}/complete", {})
    assert response.status_code == 409, response.json
    assert response.json["code"] == "entitlement_exhausted"
    assert nm.group.get(f"port-ins/{port['id']}").json["state"] == "scheduled"
    for e164 in port["numbers"]:  # still porting, as since the port was accepted
        assert nm.group.get(f"numbers/{e164}").json["state"] == "porting"
    assert nm.entitlement(sub) == (1, 0)


def test_accepted_numbers_are_porting_block_others_and_are_retired_on_rejection(nm, sub):
    numbers = fresh_numbers(2)
    port = new_port(nm, sub, numbers=numbers)
    assert nm.group.get(f"numbers/{numbers[0]}").status_code == 404  # a draft holds nothing
    port = drive(nm, port, ["submit", "accept"])
    porting = nm.group.get("numbers?state=porting").json["items"]
    assert sorted(n["e164"] for n in porting) == numbers
    # nothing else can take them meanwhile: an import, another port-in
    clash = nm.group.post("number-imports", {"rows": [{"number": numbers[0]}]})
    assert clash.status_code == 422, clash.json
    assert clash.json["errors"]["rows"] == ["row 1: number: already in the platform's inventory"]
    again = nm.client("tenant").post(
        "port-ins",
        {"subscription_id": str(sub.id), "numbers": numbers, "current_carrier": "Other",
         "account_reference": "B", "requested_date": "2030-02-01"},
    )  # fmt: skip
    assert again.status_code == 422
    assert again.json["errors"]["numbers"][0].endswith("already in the platform's inventory")
    rejected = nm.group.post(f"port-ins/{port['id']}/reject", {"reason": "donor refused"})
    assert rejected.status_code == 200, rejected.json
    history = nm.group.get(f"numbers/{numbers[0]}/history").json
    assert [(h["action"], h["to_state"]) for h in history] == [
        ("port_in", "porting"),
        ("cancel_port", "retired"),
    ]
    assert "donor refused" in history[-1]["reason"]
    # a retired number can be ported in again, and this time it arrives
    retry = drive(nm, new_port(nm, sub, numbers=numbers), PATHS["scheduled"])
    assert nm.group.get(f"numbers/{numbers[0]}").json["state"] == "porting"
    done = nm.group.post(f"port-ins/{retry['id']}/complete", {})
    assert done.status_code == 200, done.json
    states = [nm.group.get(f"numbers/{n}").json["state"] for n in numbers]
    assert states == ["allocated", "allocated"]
    actions = [h["action"] for h in nm.group.get(f"numbers/{numbers[0]}/history").json]
    assert actions == ["port_in", "cancel_port", "port_in", "complete_port"]


def test_every_number_is_validated(nm, sub):
    base = {"subscription_id": str(sub.id), "current_carrier": "Old", "account_reference": "A",
            "requested_date": "2030-01-15"}  # fmt: skip
    client = nm.client("tenant")
    cases = [
        ({"numbers": ["+3225559999999"]}, "numbers", "0: +3225559999999: too long"),
        ({"numbers": ["0225550000"]}, "numbers", "0: 0225550000: not in E.164 form"),
        ({"ranges": [{"first": "+3225560000", "last": "+3225550000"}]}, "ranges",
         "0: last: the last number comes before the first"),
        ({"numbers": ["+3225560001", "+32470123456"]}, "numbers", "Mixed: BE geographic, "
         "BE mobile."),
        ({}, "numbers", "Give numbers or ranges."),
    ]  # fmt: skip
    for extra, field, reason in cases:
        response = client.post("port-ins", {**base, **extra})
        assert response.status_code == 422, extra
        assert response.json["errors"][field][0].startswith(reason), response.json
    nm.stock("+3225550007")
    response = client.post("port-ins", {**base, "numbers": ["+3225550007"]})
    assert response.status_code == 422
    assert response.json["errors"]["numbers"] == [
        "+3225550007: already in the platform's inventory"
    ]
    assert client.get("port-ins").json["items"] == []


def test_country_steps_must_be_done_before_completion(nm, sub):
    settings = nm.group.patch(
        "number-settings", {"port_steps": {"be": ["letter of authorisation", "donor check"]}}
    )
    assert settings.status_code == 200, settings.json
    assert settings.json["port_steps"] == {"BE": ["letter of authorisation", "donor check"]}
    bad = nm.group.patch("number-settings", {"port_steps": {"BEL": ["x"]}})
    assert bad.status_code == 422
    assert "port_steps" in bad.json["errors"]

    port = drive(nm, new_port(nm, sub), PATHS["scheduled"])
    assert port["steps"] == [
        {"name": "letter of authorisation", "done": False},
        {"name": "donor check", "done": False},
    ]
    refused = nm.group.post(f"port-ins/{port['id']}/complete", {})
    assert refused.status_code == 409
    assert refused.json["errors"]["steps"] == ["Not done: letter of authorisation, donor check."]
    tenant_try = nm.client("tenant").post(f"port-ins/{port['id']}/steps", {"step": "donor check"})
    assert tenant_try.status_code == 403
    unknown = nm.group.post(f"port-ins/{port['id']}/steps", {"step": "fax"})
    assert unknown.status_code == 422
    assert "step" in unknown.json["errors"]
    for step in ("donor check", "letter of authorisation"):
        marked = nm.group.post(f"port-ins/{port['id']}/steps", {"step": step})
        assert marked.status_code == 200, marked.json
    assert [s["done"] for s in marked.json["steps"]] == [True, True]
    done = nm.group.post(f"port-ins/{port['id']}/complete", {})
    assert done.status_code == 200, done.json
    # Other countries' ports have no steps.
    assert new_port(nm, sub, numbers=["+33140000001"])["steps"] == []


def test_comments_and_documents(nm, sub):
    port = new_port(nm, sub)
    tenant = nm.client("tenant")
    response = tenant.post(f"port-ins/{port['id']}/comments", {"text": "Bill attached."})
    assert response.status_code == 200
    comment = response.json["comments"][-1]
    assert (comment["text"], comment["system"]) == ("Bill attached.", False)
    assert comment["author"].startswith("admin")

    content = b"%PDF-1.4 letter of authorisation"
    upload = {"filename": "loa.pdf", "content_type": "application/pdf",
              "content_base64": base64.b64encode(content).decode()}  # fmt: skip
    created = tenant.post(f"port-ins/{port['id']}/documents", upload)
    assert created.status_code == 201, created.json
    assert (created.json["filename"], created.json["size"]) == ("loa.pdf", len(content))
    listed = nm.group.get(f"port-ins/{port['id']}/documents").json
    assert [d["id"] for d in listed] == [created.json["id"]]
    download = nm.group.get(f"port-ins/{port['id']}/documents/{created.json['id']}")
    assert download.status_code == 200
    assert download.data == content
    assert download.headers["Content-Type"] == "application/pdf"

    too_big = base64.b64encode(b"x" * (MAX_DOCUMENT_BYTES + 1)).decode()
    refused = tenant.post(f"port-ins/{port['id']}/documents", {**upload, "content_base64": too_big})
    assert refused.status_code == 422
    assert "content_base64" in refused.json["errors"]
    garbage = tenant.post(f"port-ins/{port['id']}/documents", {**upload, "content_base64": "%%"})
    assert garbage.status_code == 422
    assert len(nm.group.get(f"port-ins/{port['id']}/documents").json) == 1


def test_port_ins_are_scoped(nm, sub):
    port = new_port(nm, sub)
    sibling = nm.client("sibling_reseller")
    assert sibling.get("port-ins").json["items"] == []
    assert sibling.get(f"port-ins/{port['id']}").status_code == 404
    assert sibling.post(f"port-ins/{port['id']}/cancel", {}).status_code == 404
    queue = nm.client("reseller").get("port-ins", query_string={"state": "draft"}).json
    assert [p["id"] for p in queue["items"]] == [port["id"]]
