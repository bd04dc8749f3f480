"""Registers the AnywhereNow contact centre connector with Fusion's core."""

from __future__ import annotations

from pathlib import Path

from fusion_core.db import session
from fusion_core.hierarchy.services import has_subscription
from fusion_core.hookspecs import hookimpl
from fusion_core.registry import Card, Platform, SkuKind, Tab

PLATFORM = Platform(
    key="anywherenow",
    name="AnywhereNow contact centre",
    description="Contact-centre sites, agents and supervisors on AnywhereNow.",
)


@hookimpl
def register_platforms():
    return [PLATFORM]


@hookimpl
def register_sku_kinds():
    """The licences this connector consumes from a subscription's entitlements."""
    return [
        SkuKind(
            "anywherenow_seat",
            "AnywhereNow seat",
            "A contact-centre agent or supervisor on AnywhereNow.",
        ),
    ]


@hookimpl
def register_migrations():
    return [str(Path(__file__).parent / "migrations" / "versions")]


@hookimpl
def tenant_cards(actor, tenant):
    """A placeholder card on tenants subscribed to this platform, until the connector's pages."""
    if not has_subscription(session, tenant, PLATFORM.key):
        return []
    return [
        Card(
            PLATFORM.key,
            "Contact centre",
            "<p>AnywhereNow sites, agents and supervisors will be managed here.</p>",
            order=40,
        )
    ]


@hookimpl
def subscription_tabs(actor, subscription):
    """A placeholder tab on this platform's subscriptions."""
    if subscription.platform != PLATFORM.key:
        return []
    return [
        Tab(
            PLATFORM.key,
            "Sites & agents",
            "<p>AnywhereNow sites, agents and supervisors will be managed here.</p>",
            order=10,
        )
    ]
