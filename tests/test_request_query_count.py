"""Round trips per request: authenticating and reading one tenant are two SELECTs.

Each statement is a round trip to the database, which is what a loaded server pays for most
(see bench/). A lazy load creeping into the token check, or a second query per list page,
shows up here as a changed count, not as a slower benchmark weeks later.
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from fusion_core.db import get_db


@contextmanager
def statements(app):
    seen: list[str] = []
    engine = app.extensions["fusion.db"].engine

    def record(_conn, _cursor, statement, _params, _context, _many):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_reading_one_tenant_costs_the_token_select_and_the_tenant_select(app, make, api):
    tree = make.tree()
    client = api.as_(make.admin(tree["group"]))
    path = f"tenants/{tree['tenant'].id}"
    assert client.get(path).status_code == 200  # the first use records last_used_at
    with statements(app) as seen:
        response = client.get(path)
    assert response.status_code == 200
    assert response.json["id"] == str(tree["tenant"].id)
    assert len(seen) == 2, seen
    assert "FROM api_tokens JOIN admins" in seen[0] and "JOIN organizations" in seen[0]
    assert seen[1].startswith("SELECT organizations.") and "WHERE organizations.id =" in seen[1]


def test_a_list_page_costs_the_token_select_the_count_and_the_page(app, make, api):
    tree = make.tree()
    client = api.as_(make.admin(tree["reseller"]))
    path = f"tenants?parent_id={tree['reseller'].id}"
    assert client.get(path).status_code == 200
    with statements(app) as seen:
        response = client.get(path)
    assert response.status_code == 200
    assert [t["id"] for t in response.json["items"]] == [str(tree["tenant"].id)]
    assert response.json["total"] == 1
    assert len(seen) == 3, seen
    assert "FROM api_tokens" in seen[0]
    assert seen[1].startswith("SELECT count(*)")
    assert "LIMIT" in seen[2]


def test_the_organisation_of_the_token_admin_is_loaded_with_the_token(app, make):
    from fusion_core.iam.services import resolve_token

    tree = make.tree()
    secret = make.token(make.admin(tree["reseller"]))
    with app.app_context(), statements(app) as seen:
        admin = resolve_token(get_db().session, secret)
        assert admin.organization.id == tree["reseller"].id
    assert len([s for s in seen if s.startswith("SELECT")]) == 1, seen
