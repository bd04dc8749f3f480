"""Registers the Microsoft Teams Direct Routing connector with Fusion's core."""

from __future__ import annotations

from pathlib import Path

from fusion_core.db import session
from fusion_core.hierarchy.services import has_subscription
from fusion_core.hookspecs import hookimpl
from fusion_core.registry import Card, Platform, SkuKind, Tab

PLATFORM = Platform(
    key="teams",
    name="Microsoft Teams Direct Routing",
    description="Teams users and resource accounts provisioned through Microsoft Graph.",
)


@hookimpl
def register_platforms():
    return [PLATFORM]


@hookimpl
def register_sku_kinds():
    """The licences this connector consumes from a subscription's entitlements."""
    return [
        SkuKind(
            "teams_seat",
            "Teams seat",
            "A Teams user with an active phone number (Direct Routing voice).",
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
            "Microsoft Teams",
            "<p>Teams users, resource accounts and voice routing will be managed here.</p>",
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
            "Teams users",
            "<p>Teams users, resource accounts and voice routing will be managed here.</p>",
            order=10,
        )
    ]
