"""Uploading a CSV file on the portal's Import numbers page, and the import's body limit
(FUSION_MAX_IMPORT_BYTES) on that page and on POST /api/v1/number-imports; every other request
keeps FUSION_MAX_BODY_BYTES."""

from __future__ import annotations

import io
import re

import pytest

from fusion_core.testing import PortalClient


class Portal(PortalClient):
    """A signed-in portal client that also uploads files to the Import numbers page."""

    def upload(self, content: bytes, action: str, **fields):
        self.get("/numbers/import")
        return self.post(
            "/numbers/import",
            {"action": action, "file": (io.BytesIO(content), "numbers.csv"), **fields},
            content_type="multipart/form-data",
        )


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


@pytest.fixture
def group_portal(nm, app):
    return Portal(app, nm.group_admin)


@pytest.fixture
def import_limit(app):
    """A small FUSION_MAX_IMPORT_BYTES for the test, restored after."""
    settings = app.config["FUSION"]
    before = settings.get("MAX_IMPORT_BYTES")
    settings["MAX_IMPORT_BYTES"] = 4096
    yield 4096
    if before is None:
        settings.pop("MAX_IMPORT_BYTES")
    else:
        settings["MAX_IMPORT_BYTES"] = before


def test_the_page_offers_a_file_field_in_a_multipart_form_with_csrf(group_portal):
    page = text(group_portal.get("/numbers/import"))
    assert '<form method="post" class="form" enctype="multipart/form-data">' in page
    assert 'type="file" id="f-file" name="file"' in page
    assert "(up to 64 MiB)" in page
    assert 'name="csrf_token"' in page


def test_an_uploaded_file_is_previewed_then_imported(group_portal, nm):
    csv = b"\xef\xbb\xbffirst,last,type\n+3225550000,+3225550019,geographic\n"
    preview = group_portal.upload(csv, "preview")
    assert preview.status_code == 200
    body = text(preview)
    assert (
        "Would create 20 number(s) in 1 range(s). Nothing has been written yet: "
        "choose the file again to import it." in body
    )
    assert "<td>+3225550000</td><td>+3225550019</td>" in body
    assert nm.group.get("numbers").json["items"] == []

    done = group_portal.upload(csv, "import", publish="on")
    assert done.status_code == 302 and done.headers["Location"].endswith("/number-imports")
    items = nm.group.get("numbers?limit=100").json["items"]
    assert len(items) == 20 and {n["state"] for n in items} == {"available"}
    imports = nm.group.get("number-imports").json["items"]
    assert [(i["source"], i["created_numbers"]) for i in imports] == [("portal", 20)]


def test_a_bad_row_in_a_file_shows_the_report_beside_the_file_and_imports_nothing(group_portal, nm):
    csv = b"number\n+3225550001\n+32255\n"
    for action in ("preview", "import"):
        response = group_portal.upload(csv, action)
        body = text(response)
        assert 'id="import-report"' in body
        assert "<td>3</td><td>+32255</td><td>number</td>" in body
    assert response.status_code == 422
    assert 'id="f-file-error"' in body and "Nothing was imported: 1 problem(s)" in body
    assert nm.group.get("numbers").json["items"] == []
    assert nm.group.get("number-imports").json["items"] == []


def test_a_file_over_the_import_limit_is_refused_naming_the_field(group_portal, nm, import_limit):
    just_over = b"number\n" + b"+3225550001\n" * (import_limit // 12 + 1)
    assert import_limit < len(just_over) < import_limit + 64 * 1024  # read, then measured
    far_over = b"number\n" + b"+3225550001\n" * 20_000  # refused from its length, unread
    for content in (just_over, far_over):
        response = group_portal.upload(content, "import")
        assert response.status_code == 413
        body = text(response)
        assert 'id="f-file-error"' in body
        assert "Larger than 4,096 bytes: split the file, or import it with" in body
    assert nm.group.get("number-imports").json["items"] == []


def test_the_api_takes_an_import_as_large_as_the_setting_and_no_larger(nm, import_limit):
    rows = "".join(f"+322555{n:04d}\n" for n in range(300))  # 3,600 bytes of CSV
    body = {"csv": "number\n" + rows, "dry_run": True}
    answer = nm.group.post("number-imports", body)
    assert answer.status_code == 200, answer.json
    assert answer.json["numbers"] == 300

    too_big = {"csv": "number\n" + rows * 30, "dry_run": True}
    refused = nm.group.post("number-imports", too_big)
    assert refused.status_code == 413
    assert refused.json["code"] == "payload_too_large"
    assert refused.json["errors"]["_body"] == [
        "Larger than 4,096 bytes: split the file, or import it with `fusion numbers import FILE`."
    ]


def test_the_api_import_accepts_more_than_the_general_body_limit(nm, app):
    general = app.config["FUSION"]["MAX_BODY_BYTES"]
    rows = [f"+3225{n:06d}\n" for n in range(500_000, 600_000)]  # 100,000 single numbers
    csv = "number\n" + "".join(rows)
    assert len(csv) > general
    answer = nm.group.post("number-imports", {"csv": csv, "dry_run": True})
    assert answer.status_code == 200, answer.json
    assert answer.json["numbers"] == 100_000
    other = nm.group.post("numbers/transfer", {"numbers": ["x" * general]})  # any other route
    assert other.status_code == 413
    assert other.json["code"] == "payload_too_large"
