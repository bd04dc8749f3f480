"""Registers the SIP trunking connector with Fusion's core."""

from __future__ import annotations

from pathlib import Path

from fusion_core.db import session
from fusion_core.hierarchy.services import has_subscription
from fusion_core.hookspecs import hookimpl
from fusion_core.registry import Card, Platform, Tab

PLATFORM = Platform(
    key="siptrunk",
    name="SIP trunking",
    description="SIP trunks from customer IP-PBXs to the service provider's SBC (Kamailio).",
)


@hookimpl
def register_platforms():
    return [PLATFORM]


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
            "Trunks",
            "<p>SIP trunks, their capacity and the numbers routed to them will be managed here.</p>",
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
            "Trunks & routing",
            "<p>SIP trunks, their capacity and the numbers routed to them will be managed here.</p>",
            order=10,
        )
    ]
