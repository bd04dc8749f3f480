"""Inventory imports: all or nothing, a per-row report, a dry run, ranges, CSV, jobs, audit."""

from __future__ import annotations

from sqlalchemy import func, select

from fusion_core.audit.models import AuditEntry
from fusion_core.db import get_db
from fusion_core.numbering import services
from fusion_core.numbering.models import NumberImport, NumberRange, PhoneNumber


def count_numbers(app) -> int:
    with app.app_context():
        return get_db().session.scalar(select(func.count()).select_from(PhoneNumber))


def test_single_and_vanity_numbers_are_imported(nm, app):
    body = nm.import_rows(
        [
            {"number": "+3225551234", "notes": "reception"},
            {"number": "+3280012345", "type": "toll_free", "vanity_class": "gold"},
        ]
    )
    assert body["status"] == "completed"
    assert (body["created_numbers"], body["created_ranges"]) == (2, 0)

    one = nm.group.get("numbers/+3280012345").json
    assert one["country"] == "BE"
    assert one["number_type"] == "toll_free"
    assert one["vanity_class"] == "gold"
    assert one["area"] == "800"
    assert one["state"] == "imported"
    assert one["owner_id"] == str(nm.tree["group"].id)
    assert one["import_id"] == body["id"]
    assert nm.group.get("numbers/+3225551234").json["notes"] == "reception"


def test_a_range_creates_every_number_and_a_range_record(nm, app):
    body = nm.import_rows([{"first": "+3225550000", "last": "+3225550999"}], publish=True)
    assert (body["created_numbers"], body["created_ranges"]) == (1000, 1)
    assert count_numbers(app) == 1000

    ranges = nm.group.get("number-ranges").json
    assert ranges["total"] == 1
    block = ranges["items"][0]
    assert (block["first"], block["last"], block["count"]) == ("+3225550000", "+3225550999", 1000)
    assert (block["country"], block["number_type"], block["area"]) == ("BE", "geographic", "2")
    middle = nm.group.get("numbers/+3225550500").json
    assert middle["state"] == "available"
    assert middle["range_id"] == block["id"]


def test_one_bad_row_refuses_the_whole_import_with_a_row_report(nm, app):
    response = nm.group.post(
        "number-imports",
        {
            "rows": [
                {"number": "+3225551234"},
                {"number": "+3278012345"},
                {"number": "+32475123456", "type": "geographic"},
                {"first": "+3225550000"},
                {"number": "0032 2 555 12 34"},
            ]
        },
    )
    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation_error"
    report = response.json["report"]
    assert [(p["row"], p["field"]) for p in report] == [
        (2, "number"),
        (3, "type"),
        (4, "last"),
        (5, "number"),
    ]
    assert report[0]["value"] == "+3278012345"
    assert "possible but not valid" in report[0]["reason"]
    assert "makes it mobile" in report[1]["reason"]
    assert response.json["errors"]["rows"][0].startswith("row 2: number: possible but not valid")
    assert count_numbers(app) == 0
    with app.app_context():
        assert get_db().session.scalar(select(func.count()).select_from(NumberImport)) == 0


def test_a_dry_run_reports_what_would_be_created_and_writes_nothing(nm, app):
    rows = [{"first": "+3225550000", "last": "+3225550099"}, {"number": "+3280012345"}]
    response = nm.group.post("number-imports", {"rows": rows, "dry_run": True})
    assert response.status_code == 200, response.json
    assert response.json["valid"] is True
    assert (response.json["numbers"], response.json["ranges"]) == (101, 1)
    assert [p["first"] for p in response.json["preview"]] == ["+3225550000", "+3280012345"]
    assert response.json["report"] == []
    assert count_numbers(app) == 0

    bad = nm.group.post("number-imports", {"rows": [{"number": "+3212"}], "dry_run": True})
    assert bad.status_code == 200
    assert bad.json["valid"] is False
    assert bad.json["report"][0]["reason"] == "too short for the country's numbering plan"


def test_overlaps_within_the_import_and_with_the_platform_are_refused(nm, app):
    nm.import_rows([{"first": "+3225550000", "last": "+3225550099"}, {"number": "+3225559000"}])

    response = nm.group.post(
        "number-imports",
        {
            "rows": [
                {"first": "+3225550050", "last": "+3225550150"},  # overlaps the range
                {"number": "+3225559000"},  # already imported
                {"first": "+3225557000", "last": "+3225557010"},
                {"number": "+3225557005"},  # inside row 3
                {"first": "+3225558990", "last": "+3225559010"},  # holds +3225559000
            ]
        },
    )
    assert response.status_code == 422, response.json
    reasons = {p["row"]: p["reason"] for p in response.json["report"]}
    assert set(reasons) == {2, 4}  # the import is first checked against itself
    assert "overlaps row 5 of this import" in reasons[2]
    assert "overlaps row 3 of this import" in reasons[4]

    response = nm.group.post(
        "number-imports",
        {
            "rows": [
                {"first": "+3225550050", "last": "+3225550150"},
                {"number": "+3225550020"},
                {"first": "+3225558990", "last": "+3225559010"},
            ]
        },
    )
    reasons = {p["row"]: p["reason"] for p in response.json["report"]}
    assert "overlaps the range +3225550000..+3225550099" in reasons[1]
    assert reasons[2] == "already in the platform's inventory"
    assert reasons[3] == "overlaps numbers already in the platform: +3225559000"
    assert count_numbers(app) == 101


def test_csv_rows_are_reported_by_line(nm, app):
    csv_text = (
        "number,first,last,type,vanity_class,area,notes\n"
        "+3225551234,,,geographic,,2,desk\n"
        ",+3280012300,+3280012399,toll_free,silver,,\n"
        "+3290012345,,,toll_free,,,\n"
    )
    response = nm.group.post("number-imports", {"csv": csv_text})
    assert response.status_code == 422
    assert response.json["report"] == [
        {
            "row": 4,
            "value": "+3290012345",
            "field": "type",
            "reason": "declared toll_free, but the BE plan makes it premium",
        }
    ]
    fixed = csv_text.replace("+3290012345,,,toll_free", "+3290012345,,,premium")
    response = nm.group.post("number-imports", {"csv": fixed})
    assert response.status_code == 201, response.json
    assert response.json["created_numbers"] == 102
    assert nm.group.get("numbers/+3280012350").json["vanity_class"] == "silver"

    header = nm.group.post("number-imports", {"csv": "phone\n+3225551234\n"})
    assert header.status_code == 422
    assert "unknown: phone" in header.json["errors"]["csv"][0]


def test_only_group_admins_import(nm, app):
    rows = [{"number": "+3225551234"}]
    for level in ("distributor", "reseller", "tenant"):
        response = nm.client(level).post("number-imports", {"rows": rows})
        assert response.status_code == 403, (level, response.json)
        assert "Only group administrators" in response.json["message"]
    read_only = nm.client("group", role="read_only").post("number-imports", {"rows": rows})
    assert read_only.status_code == 403
    assert count_numbers(app) == 0


def test_an_import_is_audited_once_not_per_number(nm, app):
    body = nm.import_rows([{"first": "+3225550000", "last": "+3225550499"}])
    with app.app_context():
        session = get_db().session
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == body["id"]).order_by(AuditEntry.id)
        ).all()
        per_number = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == "numbers")
        )
    assert per_number == 0
    imported = [e for e in entries if e.action == "import"]
    assert len(imported) == 1
    assert imported[0].changes["numbers"] == [None, 500]
    assert imported[0].changes["ranges"] == [None, ["+3225550000..+3225550499"]]
    assert imported[0].actor_id == nm.group_admin.id


def test_large_imports_run_as_a_job_with_progress(nm, app, monkeypatch):
    monkeypatch.setattr(services, "SYNC_IMPORT_LIMIT", 100)
    monkeypatch.setattr("fusion_core.numbering.importer.CHUNK", 64)
    response = nm.group.post(
        "number-imports", {"rows": [{"first": "+3225550000", "last": "+3225550299"}]}
    )
    assert response.status_code == 202, response.json
    assert response.json["status"] == "pending"
    # Jobs run eagerly in tests: by now the job has committed.
    done = nm.group.get(f"number-imports/{response.json['id']}").json
    assert done["status"] == "completed"
    assert (done["processed"], done["total"], done["progress"]) == (300, 300, 1.0)
    assert count_numbers(app) == 300
    listed = nm.group.get("number-imports?status=completed").json
    assert [i["id"] for i in listed["items"]] == [response.json["id"]]


def test_a_failed_import_job_creates_nothing_and_says_why(nm, app, monkeypatch):
    monkeypatch.setattr(services, "SYNC_IMPORT_LIMIT", 10)
    original = services.importer.execute

    def clash(session, imp, progress=None):
        original(session, imp, progress)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services.importer, "execute", clash)
    response = nm.group.post(
        "number-imports", {"rows": [{"first": "+3225550000", "last": "+3225550099"}]}
    )
    assert response.status_code == 202
    failed = nm.group.get(f"number-imports/{response.json['id']}").json
    assert failed["status"] == "failed"
    assert "the database went away" in failed["error"]
    assert count_numbers(app) == 0
    with app.app_context():
        assert get_db().session.scalar(select(func.count()).select_from(NumberRange)) == 0
