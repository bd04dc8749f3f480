"""Calling plans: per group and country, the ordered destination classes a trunk may call.

A class has a key, a label, a call-barring category (`models.BARRING_CATEGORIES`), an E.164
pattern (a regular expression anchored at the start) and whether trunks may call it by
default. The first class whose pattern matches classifies a destination; a destination no
class matches is refused. A group starts from the defaults below and edits its own copy.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from fusion_core.errors import ValidationFailed
from fusion_core.scope import subtree
from fusion_siptrunk.models import BARRING_CATEGORIES, CallingPlan


def _cls(key: str, label: str, category: str, pattern: str, default: bool = True):
    return {
        "key": key,
        "label": label,
        "category": category,
        "pattern": pattern,
        "default": default,
    }


# International zones after the national classes of every country.
_ZONES = [
    _cls("international_zone1", "International: Europe", "international", r"^\+(3|4)"),
    _cls("international_zone2", "International: North America", "international", r"^\+1"),
    _cls("international_zone3", "International: rest of the world", "international", r"^\+"),
]

_NATIONAL = {
    "GB": [
        _cls("toll_free", "Freephone (080, 0500)", "toll_free", r"^\+44(80[08]|500)"),
        _cls("premium", "Premium rate (09)", "premium", r"^\+449", default=False),
        _cls("mobile", "Mobile (07)", "mobile", r"^\+447[1-57-9]"),
        _cls(
            "special",
            "Personal and shared cost (070, 076, 084, 087)",
            "special",
            r"^\+44(70|76|8[47])",
            default=False,
        ),
        _cls("national_fixed", "Geographic (01, 02) and 03", "national", r"^\+44[123]"),
    ],
    "BE": [
        _cls("toll_free", "Freephone (0800)", "toll_free", r"^\+32800"),
        _cls("premium", "Premium rate (070, 090x)", "premium", r"^\+32(70|90)", default=False),
        _cls("mobile", "Mobile (04xx)", "mobile", r"^\+324[5-9]"),
        _cls("national_fixed", "Geographic", "national", r"^\+32[1-9]"),
    ],
    "NL": [
        _cls("toll_free", "Freephone (0800)", "toll_free", r"^\+31800"),
        _cls("premium", "Premium rate (090x)", "premium", r"^\+3190", default=False),
        _cls("mobile", "Mobile (06)", "mobile", r"^\+316"),
        _cls("national_fixed", "Geographic", "national", r"^\+31[1-57]"),
    ],
    "US": [
        _cls("toll_free", "Toll free (8xx)", "toll_free", r"^\+18(00|33|44|55|66|77|88)"),
        _cls("premium", "Premium rate (900)", "premium", r"^\+1900", default=False),
        _cls("national_fixed", "North American numbers", "national", r"^\+1[2-9]"),
    ],
}


def default_classes(country: str) -> list[dict[str, Any]]:
    """The classes a group's plan for `country` starts from."""
    national = _NATIONAL.get(country)
    if national is None:
        code = phonenumbers.country_code_for_region(country)
        national = [_cls("national", f"National (+{code})", "national", rf"^\+{code}")]
    return [dict(c) for c in national] + [dict(c) for c in _ZONES]


def plan_for(session: Session, group_path: str, country: str, *, create: bool = True):
    """The group's plan for `country`, created from the defaults on first use."""
    plan = session.scalar(
        select(CallingPlan).where(
            CallingPlan.org_path == group_path, CallingPlan.country == country
        )
    )
    if plan is None and create:
        from fusion_siptrunk import services, sync

        plan = CallingPlan(
            org_path=group_path,
            country=country,
            key=services.next_key(session),
            classes=default_classes(country),
        )
        session.add(plan)
        session.flush()
        for sbc in services.group_sbcs(session, group_path):
            sync.request_shared(session, sbc)
    return plan


def check_classes(value: Any) -> list[dict[str, Any]]:
    """Validate a plan's classes as an administrator sends them (field names in errors)."""
    if not isinstance(value, list) or not value:
        raise ValidationFailed("A plan needs classes.", errors={"classes": ["A non-empty list."]})
    seen: set[str] = set()
    found = []
    for i, item in enumerate(value):
        where = f"classes.{i}"
        if not isinstance(item, dict):
            raise ValidationFailed("Each class is an object.", errors={where: ["An object."]})
        key = str(item.get("key") or "")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key):
            raise ValidationFailed(
                "Invalid class key.", errors={f"{where}.key": ["Lower-case letters, digits, _."]}
            )
        if key in seen:
            raise ValidationFailed("Duplicate class.", errors={f"{where}.key": ["Used twice."]})
        seen.add(key)
        category = item.get("category")
        if category not in BARRING_CATEGORIES:
            raise ValidationFailed(
                "Invalid category.",
                errors={f"{where}.category": [f"One of: {', '.join(BARRING_CATEGORIES)}."]},
            )
        pattern = str(item.get("pattern") or "")
        if not pattern.startswith("^\\+"):
            raise ValidationFailed(
                "Invalid pattern.",
                errors={f"{where}.pattern": ["A regular expression starting with ^\\+."]},
            )
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValidationFailed(
                "Invalid pattern.",
                errors={f"{where}.pattern": [f"Not a regular expression: {exc}"]},
            ) from None
        found.append(
            {
                "key": key,
                "label": str(item.get("label") or key)[:100],
                "category": category,
                "pattern": pattern,
                "default": bool(item.get("default", True)),
            }
        )
    return found


def update_plan(session: Session, plan: CallingPlan, classes: Any) -> CallingPlan:
    from fusion_siptrunk import services, sync
    from fusion_siptrunk.models import Trunk

    plan.classes = check_classes(classes)
    session.flush()
    for sbc in services.group_sbcs(session, plan.org_path):
        sync.request_shared(session, sbc)
    trunks = select(Trunk).where(
        subtree(Trunk.org_path, plan.org_path), Trunk.country == plan.country
    )
    for trunk in session.scalars(trunks):
        sync.request(session, trunk)
    return plan
