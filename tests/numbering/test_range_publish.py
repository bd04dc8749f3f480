"""Publishing a whole range: one statement, history per number, one audit entry."""

from __future__ import annotations

from sqlalchemy import func, select

from fusion_core.audit.models import AuditEntry
from fusion_core.db import get_db
from fusion_core.numbering.models import NumberHistory


def test_a_range_is_published_at_once_with_history_and_one_audit_entry(nm, app):
    nm.import_rows([{"first": "+3225550000", "last": "+3225550499"}])
    nm.group.post("numbers/+3225550007/retire", {})
    block = nm.group.get("number-ranges").json["items"][0]["id"]

    response = nm.group.post(f"number-ranges/{block}/publish", {"reason": "launch"})
    assert response.status_code == 200, response.json
    assert response.json == {"published": 499}
    assert nm.group.get("numbers/+3225550008").json["state"] == "available"
    assert nm.group.get("numbers/+3225550007").json["state"] == "retired"
    history = nm.group.get("numbers/+3225550499/history").json
    assert [(h["action"], h["from_state"], h["to_state"], h["reason"]) for h in history] == [
        ("import", None, "imported", None),
        ("publish", "imported", "available", "launch"),
    ]
    assert history[1]["actor_id"] == str(nm.group_admin.id)
    with app.app_context():
        session = get_db().session
        published = session.scalar(
            select(func.count()).select_from(NumberHistory).where(NumberHistory.action == "publish")
        )
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == block, AuditEntry.action == "publish")
        ).all()
    assert published == 499
    assert [e.changes for e in entries] == [
        {"numbers": [None, 499], "state": ["imported", "available"]}
    ]
    # Again: nothing left to publish.
    assert nm.group.post(f"number-ranges/{block}/publish", {}).json == {"published": 0}


def test_only_group_admins_publish_ranges(nm):
    nm.import_rows([{"first": "+3225550000", "last": "+3225550009"}])
    block = nm.group.get("number-ranges").json["items"][0]["id"]
    read_only = nm.client("group", role="read_only")
    assert read_only.post(f"number-ranges/{block}/publish", {}).status_code == 403
    assert nm.client("reseller").post(f"number-ranges/{block}/publish", {}).status_code == 404
    assert nm.group.get("numbers/+3225550000").json["state"] == "imported"
