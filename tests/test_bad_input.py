"""Bad input: every malformed request answers the one JSON error shape, naming the field and
the reason with the right status, and writes nothing (row counts and the audit log unchanged)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from fusion_core.db import Base, get_db


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        session = get_db().session
        return {
            t.name: session.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
            if t.name != "login_throttles"
        }


@pytest.fixture
def setting(make, api, app):
    tree = make.tree()
    group_admin = make.admin(tree["group"], password=None)  # token only: no hashing
    client = api.as_(group_admin)
    return tree, client


def assert_error(response, status: int, field: str | None, reason: str, request_id=True):
    assert response.status_code == status, (response.status_code, response.data[:300])
    body = response.json
    assert body is not None, response.data[:300]
    assert set(body) >= {"code", "message", "request_id"}, body
    assert body["request_id"] == response.headers["X-Request-ID"]
    if field is not None:
        assert field in body.get("errors", {}), body
        assert any(reason in r for r in body["errors"][field]), body
    else:
        assert reason in body["message"], body
    return body


CASES = [
    # (name, method, path template, body, status, field, reason)
    (
        "unknown field",
        "POST",
        "tenants",
        {"parent_id": "{reseller}", "name": "X", "colour": "red"},
        422,
        "colour",
        "Unknown field",
    ),
    (
        "wrong type",
        "POST",
        "tenants",
        {"parent_id": "{reseller}", "name": 42},
        422,
        "name",
        "Not a valid string",
    ),
    (
        "missing required",
        "POST",
        "tenants",
        {"parent_id": "{reseller}"},
        422,
        "name",
        "Missing data for required field",
    ),
    (
        "blank name",
        "POST",
        "tenants",
        {"parent_id": "{reseller}", "name": "   "},
        422,
        "name",
        "blank",
    ),
    (
        "invalid uuid in body",
        "POST",
        "tenants",
        {"parent_id": "not-a-uuid", "name": "X"},
        422,
        "parent_id",
        "Not a valid UUID",
    ),
    (
        "unknown parent",
        "POST",
        "tenants",
        {"parent_id": str(uuid.uuid4()), "name": "X"},
        422,
        "parent_id",
        "No organization",
    ),
    (
        "illegal parent",
        "POST",
        "resellers",
        {"parent_id": "{reseller}", "name": "X"},
        422,
        "parent_id",
        "not a reseller",
    ),
    (
        "bad status",
        "PATCH",
        "tenants/{tenant}",
        {"status": "gone"},
        422,
        "status",
        "Must be one of",
    ),
    (
        "read-only field",
        "PATCH",
        "tenants/{tenant}",
        {"kind": "group"},
        422,
        "kind",
        "Unknown field",
    ),
    (
        "wrong type in patch",
        "PATCH",
        "tenants/{tenant}",
        {"name": ["a"]},
        422,
        "name",
        "Not a valid string",
    ),
    (
        "unknown platform",
        "POST",
        "tenants/{tenant}/subscriptions",
        {"platform": "fax", "name": "S"},
        422,
        "platform",
        "Must be one of",
    ),
    ("invalid uuid in path", "GET", "tenants/not-a-uuid", None, 404, "id", "Not a valid UUID"),
    (
        "invalid uuid in path, patch",
        "PATCH",
        "tenants/12345",
        {"name": "Y"},
        404,
        "id",
        "Not a valid UUID",
    ),
    (
        "invalid uuid in path, delete",
        "DELETE",
        "subscriptions/xyz",
        None,
        404,
        "id",
        "Not a valid UUID",
    ),
    (
        "audit id beyond the database's range",
        "GET",
        "audit/99999999999999999999",
        None,
        404,
        "id",
        "Not found",
    ),
    (
        "unknown organisation in a query filter",
        "GET",
        f"tenants?within={uuid.uuid4()}",
        None,
        404,
        "within",
        "Not found",
    ),
    (
        "unknown organisation in an audit filter",
        "GET",
        f"audit?organization_id={uuid.uuid4()}",
        None,
        404,
        "organization_id",
        "Not found",
    ),
    (
        "unknown query argument",
        "GET",
        "tenants?parnet_id=x",
        None,
        422,
        "parnet_id",
        "Unknown field",
    ),
    ("wrong sort field", "GET", "tenants?sort=password", None, 422, "sort", "Sort by one of"),
    (
        "per_page over max",
        "GET",
        "tenants?per_page=1000",
        None,
        422,
        "per_page",
        "less than or equal to 200",
    ),
    ("page zero", "GET", "tenants?page=0", None, 422, "page", "greater than or equal to 1"),
    (
        "invalid uuid in query",
        "GET",
        "tenants?within=nope",
        None,
        422,
        "within",
        "Not a valid UUID",
    ),
    (
        "bad email",
        "POST",
        "admins",
        {
            "organization_id": "{group}",
            "email": "nobody",
            "name": "N",
            "password": "long-enough-pw",
        },
        422,
        "email",
        "Not a valid email",
    ),
    (
        "short password",
        "POST",
        "admins",
        {"organization_id": "{group}", "email": "n@example.test", "name": "N", "password": "short"},
        422,
        "password",
        "at least 10",
    ),
    (
        "bad role",
        "POST",
        "admins",
        {"organization_id": "{group}", "email": "n@example.test", "name": "N", "role": "root"},
        422,
        "role",
        "Must be one of",
    ),
    ("body is a list", "POST", "tenants", [1, 2], 422, "_schema", "Invalid input type"),
]


@pytest.mark.parametrize(
    "name,method,path,body,status,field,reason", CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_is_named_and_writes_nothing(
    setting, app, name, method, path, body, status, field, reason
):
    tree, client = setting
    ids = {key: str(org.id) for key, org in tree.items()}
    path = path.format(**ids)
    if isinstance(body, dict):
        body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}
    before = row_counts(app)
    response = client.request(method, path, json=body)
    assert_error(response, status, field, reason)
    assert row_counts(app) == before


def test_malformed_json_answers_400_and_writes_nothing(setting, app):
    tree, client = setting
    before = row_counts(app)
    response = client.post(
        "tenants",
        data=b'{"parent_id": "' + str(tree["reseller"].id).encode() + b'", "name": ',
        headers={"Content-Type": "application/json"},
    )
    body = assert_error(response, 400, None, "not valid JSON")
    assert body["code"] == "bad_request"
    assert row_counts(app) == before


def test_a_body_that_is_not_json_is_refused(setting, app):
    tree, client = setting
    before = row_counts(app)
    response = client.post(
        "tenants",
        data=f"parent_id={tree['reseller'].id}&name=X",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    body = assert_error(response, 415, None, "Content-Type: application/json")
    assert body["code"] == "unsupported_media_type"
    # JSON sent under another name is refused the same way, not read as "fields missing".
    response = client.post(
        "tenants",
        data=f'{{"parent_id": "{tree["reseller"].id}", "name": "X"}}',
        headers={"Content-Type": "text/plain"},
    )
    assert_error(response, 415, None, "Content-Type: application/json")
    assert row_counts(app) == before


def test_oversized_body_answers_413(setting, app):
    tree, client = setting
    limit = app.config["FUSION"]["MAX_BODY_BYTES"]
    before = row_counts(app)
    response = client.post(
        "tenants",
        {"parent_id": str(tree["reseller"].id), "name": "X", "padding": "x" * (limit + 1)},
    )
    body = assert_error(response, 413, None, "too large")
    assert body["code"] == "payload_too_large"
    assert row_counts(app) == before


def test_duplicate_email_answers_409_naming_email(setting, app, make):
    tree, client = setting
    existing = make.admin(tree["reseller"], password=None)
    before = row_counts(app)
    response = client.post(
        "admins",
        {
            "organization_id": str(tree["tenant"].id),
            "email": existing.email.upper(),  # the same address, differently cased
            "name": "Twin",
            "password": "long-enough-password",
        },
    )
    assert_error(response, 409, "email", "Already in use")
    assert row_counts(app) == before


def test_unknown_route_and_method_answer_the_error_shape(setting):
    _tree, client = setting
    missing = client.get("no-such-collection")
    assert_error(missing, 404, None, "Not found")
    wrong_method = client.request("PUT", "tenants")
    assert_error(wrong_method, 405, None, "not allowed")
