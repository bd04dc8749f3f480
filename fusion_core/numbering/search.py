"""Numbers in the portal's global search (the `global_search` hook, registered by
fusion_core.builtin): what was typed, read as the start of an E.164 number, is a prefix range
on the indexed `e164` column within the viewer's scope."""

from __future__ import annotations

import re

from flask import current_app, url_for
from sqlalchemy import select

from fusion_core.context import Actor
from fusion_core.db import session
from fusion_core.numbering.models import PhoneNumber
from fusion_core.numbering.services import AFTER_DIGITS
from fusion_core.registry import SearchResult
from fusion_core.scope import scoped

KIND = "Numbers"
MIN_DIGITS = 3  # fewer would match most of the inventory


def as_prefix(query: str) -> str | None:
    """ "+32 2 555", "0032-2-555" and "322555" all become "+322555"; anything else None."""
    text = re.sub(r"[\s().\-/]", "", query or "")
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        text = "+" + text
    digits = text[1:]
    if not digits.isdigit() or not MIN_DIGITS <= len(digits) <= 15:
        return None
    return text


def number_url(number: PhoneNumber) -> str:
    """The portal's page of the number when the portal has one, else the API's."""
    if "portal.number_page" in current_app.view_functions:
        return url_for("portal.number_page", number_id=number.id)
    return url_for("numbers.NumberItem", id=number.e164)


def search_numbers(actor: Actor, query: str, limit: int) -> list[SearchResult]:
    prefix = as_prefix(query)
    if prefix is None:
        return []
    stmt = scoped(
        select(PhoneNumber).where(
            PhoneNumber.e164 >= prefix, PhoneNumber.e164 < prefix + AFTER_DIGITS
        ),
        PhoneNumber,
        actor,
    )
    numbers = session.scalars(stmt.order_by(PhoneNumber.e164).limit(limit))
    return [
        SearchResult(
            KIND,
            n.e164,
            number_url(n),
            f"{n.state} · {n.country} {n.number_type.replace('_', ' ')}"
            + (f" · {n.target_type}" if n.target_type else ""),
        )
        for n in numbers
    ]
