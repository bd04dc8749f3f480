"""Numbers in the portal: the global search (the `global_search` hook, registered by
fusion_core.builtin): what was typed, read as the start of an E.164 number, is a prefix range
on the indexed `e164` column within the viewer's scope; and the tenant page's Numbers card
(`tenant_cards`)."""

from __future__ import annotations

import re

from flask import current_app, url_for
from sqlalchemy import func, select

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


def tenant_card(actor: Actor, tenant) -> list:
    """The tenant page's Numbers card: allocated (assigned / free) and reserved for requests,
    counted in one grouped query within the viewer's scope."""
    from markupsafe import Markup

    from fusion_core.registry import Card

    rows = session.execute(
        scoped(
            select(PhoneNumber.state, func.count())
            .where(
                PhoneNumber.org_path == tenant.org_path,
                PhoneNumber.state.in_(("allocated", "assigned")),
            )
            .group_by(PhoneNumber.state),
            PhoneNumber,
            actor,
        )
    ).all()
    # Held for the tenant's requests: in a pool above it, often above the viewer too; the
    # count is the tenant's (its requests list the numbers), so it is not scoped further.
    reserved = session.scalar(
        select(func.count())
        .select_from(PhoneNumber)
        .where(PhoneNumber.state == "reserved", PhoneNumber.reserved_for_id == tenant.id)
    )
    counts = {state: int(n) for state, n in rows}
    free, assigned = counts.get("allocated", 0), counts.get("assigned", 0)
    body = Markup(
        '<dl class="numbers-card"><dt>Allocated</dt><dd>{}</dd><dt>Assigned</dt><dd>{}</dd>'
        "<dt>Free</dt><dd>{}</dd><dt>Reserved for requests</dt><dd>{}</dd></dl>"
    ).format(free + assigned, assigned, free, reserved)
    url = None
    if "portal.number_list" in current_app.view_functions:
        url = url_for("portal.number_list", tenant_id=tenant.id)
        body += Markup('<a href="{}">Request numbers</a>').format(
            url_for("portal.number_requests_page")
        )
    return [Card("numbers", "Numbers", body, url=url, order=30)]


SUBSCRIPTION_TAB_ROWS = 50


def subscription_tab(actor: Actor, subscription) -> list:
    """A subscription's Numbers tab: its allocated and assigned numbers, what each is assigned
    to, and the count of free ones (allocated, on no target); the first SUBSCRIPTION_TAB_ROWS
    by E.164, the rest through the inventory search."""
    from markupsafe import Markup

    from fusion_core.registry import Tab

    mine = scoped(
        select(PhoneNumber).where(PhoneNumber.subscription_id == subscription.id),
        PhoneNumber,
        actor,
    )
    counts = dict(
        session.execute(
            scoped(
                select(PhoneNumber.state, func.count())
                .where(PhoneNumber.subscription_id == subscription.id)
                .group_by(PhoneNumber.state),
                PhoneNumber,
                actor,
            )
        ).all()
    )
    numbers = session.scalars(mine.order_by(PhoneNumber.e164).limit(SUBSCRIPTION_TAB_ROWS)).all()
    free, assigned = int(counts.get("allocated", 0)), int(counts.get("assigned", 0))
    body = Markup(
        '<dl class="numbers-tab"><dt>Numbers</dt><dd>{}</dd><dt>Assigned</dt><dd>{}</dd>'
        "<dt>Free</dt><dd>{}</dd></dl>"
    ).format(free + assigned, assigned, free)
    if numbers:
        rows = Markup("").join(
            Markup('<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>').format(
                number_url(n),
                n.e164,
                n.state,
                f"{n.target_type} {n.target_ref}".strip() if n.target_type else "—",
            )
            for n in numbers
        )
        body += Markup(
            '<table class="striped"><thead><tr><th scope="col">Number</th>'
            '<th scope="col">State</th><th scope="col">Assigned to</th></tr></thead>'
            "<tbody>{}</tbody></table>"
        ).format(rows)
    else:
        ask = "request them"
        if "portal.number_requests_page" in current_app.view_functions:
            ask = Markup('<a href="{}">request numbers</a>').format(
                url_for("portal.number_requests_page")
            )
        body += Markup(
            '<p class="empty">No number yet: allocate some from a pool, or {}.</p>'
        ).format(ask)
    if free + assigned > len(numbers) and "portal.number_list" in current_app.view_functions:
        body += Markup('<a href="{}">All {} numbers</a>').format(
            url_for("portal.number_list", subscription_id=subscription.id), free + assigned
        )
    return [Tab("numbers", "Numbers", body, order=20)]
