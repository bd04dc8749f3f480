"""List pages dump their items with lists.item_dumper: the same JSON as the item schema's own
dump (it only skips marshmallow's per-field lookup), checked here field for field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

from marshmallow import Schema, fields, post_dump

from fusion_core.api.lists import item_dumper, page_schema
from fusion_core.db import get_db
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.hierarchy.schemas import OrganizationSchema, SubscriptionSchema


def test_organisations_and_subscriptions_dump_as_their_schema_does(app, make):
    tree = make.tree()
    make.subscription(tree["tenant"])
    with app.app_context():
        session = get_db().session
        orgs = session.query(Organization).order_by(Organization.name).all()
        subs = session.query(Subscription).all()
        assert len(orgs) >= 5 and subs
        for schema_cls, objs in ((OrganizationSchema, orgs), (SubscriptionSchema, subs)):
            expected = schema_cls(many=True).dump(objs)
            dump = item_dumper(schema_cls())
            assert [dump(o) for o in objs] == expected
            assert [list(dump(o)) for o in objs] == [list(e) for e in expected]  # key order
            page = page_schema(schema_cls)().dump(
                {"items": objs, "total": len(objs), "page": 1, "per_page": 50, "pages": 1}
            )
            assert page["items"] == expected and page["total"] == len(objs)
        tenant = next(o for o in orgs if o.id == tree["tenant"].id)
        assert item_dumper(OrganizationSchema())(tenant)["path"] == [
            str(tree["group"].id),
            str(tree["distributor"].id),
            str(tree["reseller"].id),
            str(tree["tenant"].id),
        ]


class Odd(Schema):
    ident = fields.UUID(attribute="id", data_key="uuid")
    name = fields.String()
    when = fields.DateTime(format="%Y-%m-%d")
    count = fields.Integer(as_string=True)
    nested_name = fields.String(attribute="inner.name")
    absent = fields.String()
    defaulted = fields.String(dump_default="dflt")
    kind_of = fields.Function(lambda obj: type(obj).__name__)
    tags = fields.List(fields.String())


def test_unusual_fields_fall_back_to_marshmallow():
    obj = SimpleNamespace(
        id=uuid.uuid4(),
        name="x",
        when=datetime(2026, 1, 2, tzinfo=UTC),
        count=3,
        inner=SimpleNamespace(name="in"),
        tags=["a", "b"],
    )
    expected = Odd().dump(obj)
    assert expected["nested_name"] == "in" and "absent" not in expected
    assert expected["defaulted"] == "dflt" and expected["count"] == "3"
    assert item_dumper(Odd())(obj) == expected
    as_mapping = {"id": obj.id, "name": "y", "count": 1, "inner": {"name": "z"}}
    assert item_dumper(Odd())(as_mapping) == Odd().dump(as_mapping)


def test_schemas_with_dump_hooks_use_marshmallow_itself():
    class Hooked(Schema):
        name = fields.String()

        @post_dump
        def shout(self, data, **_kw):
            return {"name": data["name"].upper()}

    assert item_dumper(Hooked())(SimpleNamespace(name="a")) == {"name": "A"}


class Typed(Schema):
    text = fields.String()
    mail = fields.Email()
    ident = fields.UUID()
    when = fields.DateTime()
    stamp = fields.DateTime(format="timestamp")
    day = fields.Date()
    count = fields.Integer()
    ratio = fields.Float()


def test_typed_fast_path_formats_like_the_fields():
    """item_dumper formats str, UUID, ISO datetime and int values inline; values of any other
    type (subclasses, bytes, floats, dates) and other formats still get the field's own output."""
    from enum import StrEnum

    class Colour(StrEnum):
        RED = "red"

    class Moment(datetime):
        def isoformat(self, *args, **kwargs):
            return "moment"

    when = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    objs = [
        SimpleNamespace(
            text="plain",
            mail="a@example.com",
            ident=uuid.uuid4(),
            when=when,
            stamp=when,
            day=when.date(),
            count=7,
            ratio=2,
        ),
        SimpleNamespace(
            text=Colour.RED,
            mail=b"b@example.com",
            ident=str(uuid.uuid4()),
            when=Moment(2026, 1, 2),
            stamp=None,
            day=None,
            count=True,
            ratio=0.5,
        ),
        SimpleNamespace(
            text=None,
            mail=None,
            ident=None,
            when=None,
            stamp=None,
            day=None,
            count=None,
            ratio=None,
        ),
    ]
    dump = item_dumper(Typed())
    for obj in objs:
        assert dump(obj) == Typed().dump(obj)
        assert [type(v) for v in dump(obj).values()] == [
            type(v) for v in Typed().dump(obj).values()
        ]
    assert dump(objs[0])["ratio"] == 2.0 and dump(objs[0])["when"] == when.isoformat()
