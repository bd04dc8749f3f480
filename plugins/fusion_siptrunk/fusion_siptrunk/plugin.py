"""Registers the SIP trunking connector with Fusion's core: every capability goes through hooks."""

from __future__ import annotations

from pathlib import Path

from fusion_core.events import EventType
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.hookspecs import hookimpl
from fusion_core.jobs import JobDefinition, Schedule
from fusion_core.registry import Platform, SkuKind
from fusion_siptrunk import models  # noqa: F401  (the plugin's tables on the core's metadata)
from fusion_siptrunk.hookspecs import SiptrunkSpecs

PLATFORM = Platform(
    key="siptrunk",
    name="SIP trunking",
    description="SIP trunks from customer IP-PBXs to the service provider's SBC (Kamailio).",
)


@hookimpl
def register_hookspecs():
    return [SiptrunkSpecs]


@hookimpl
def register_sbc_drivers():
    from fusion_siptrunk.sbc.kamailio import KamailioDriver

    return [KamailioDriver()]


@hookimpl
def register_platforms():
    return [PLATFORM]


@hookimpl
def register_sku_kinds():
    """Trunk licences; channels are the core's `sip_channel`."""
    return [
        SkuKind("siptrunk_national", "SIP trunk (national)", "One SIP trunk for national calls."),
        SkuKind(
            "siptrunk_international",
            "SIP trunk (international)",
            "One SIP trunk that may also call abroad.",
        ),
    ]


@hookimpl
def register_number_targets():
    from fusion_core.numbering.targets import NumberTarget
    from fusion_siptrunk import services

    return [
        NumberTarget(
            services.TARGET,
            "SIP trunk",
            validate=services.target_accepts,
            act=services.target_act,
            platforms=(PLATFORM.key,),
        )
    ]


@hookimpl
def register_permissions():
    from fusion_core.permissions import GROUP, Permission

    return [
        Permission("siptrunk.sbcs", "configure SBCs", GROUP, description="SBCs, reconciles"),
        Permission(
            "siptrunk.group_lists",
            "edit the group's block list",
            GROUP,
            description="the block list every trunk applies first",
        ),
        Permission(
            "siptrunk.calling_plans",
            "edit calling plans",
            GROUP,
            description="the per-country destination classes of the group",
        ),
    ]


@hookimpl
def register_jobs():
    from fusion_siptrunk import sync

    return [
        JobDefinition(sync.SYNC_JOB, sync.sync_trunk, max_attempts=5, on_failure=sync.sync_failed),
        JobDefinition(
            sync.SHARED_JOB, sync.sync_shared, max_attempts=5, on_failure=sync.sync_shared_failed
        ),
        JobDefinition(sync.REMOVE_JOB, sync.remove, max_attempts=5),
        JobDefinition(sync.RECONCILE_JOB, sync.reconcile, max_attempts=1),
    ]


@hookimpl
def register_schedules():
    return [Schedule("siptrunk.reconcile-all", job="siptrunk.reconcile", every=300)]


@hookimpl
def register_event_types():
    return [
        EventType("siptrunk.drift", "A reconcile found an SBC differing from the database"),
    ]


@hookimpl
def register_migrations():
    return [str(Path(__file__).parent / "migrations" / "versions")]


@hookimpl
def load_demo_data(session, group, tenants):
    from fusion_siptrunk import demo

    demo.load(session, group, tenants)


@hookimpl
def register_api_blueprints():
    from fusion_siptrunk import addresses, api, reports

    return [*api.blueprints, addresses.api, reports.api]


@hookimpl
def register_blueprints():
    from fusion_siptrunk import addresses, pages, reports

    return [addresses.portal, pages.portal, reports.portal]


@hookimpl
def deletion_blockers(entity):
    from sqlalchemy import func, select

    from fusion_core.db import session
    from fusion_siptrunk import addresses
    from fusion_siptrunk.models import Trunk

    reasons = list(addresses.deletion_blockers(entity) or [])
    if isinstance(entity, Subscription) and entity.platform == PLATFORM.key:
        count = session.scalar(
            select(func.count()).select_from(Trunk).where(Trunk.subscription_id == entity.id)
        )
        if count:
            reasons.append(f"it has {count} SIP trunk(s): delete them first")
    elif isinstance(entity, Organization):
        pass  # a tenant's subscriptions block it already
    return reasons


@hookimpl
def tenant_cards(actor, tenant):
    from fusion_core.db import session
    from fusion_core.hierarchy.services import has_subscription
    from fusion_siptrunk import addresses, pages

    if not has_subscription(session, tenant, PLATFORM.key):
        return []
    cards = [pages.tenant_card(actor, tenant), addresses.tenant_card(actor, tenant)]
    return [card for card in cards if card]


@hookimpl
def subscription_tabs(actor, subscription):
    """A Trunks tab on SIP-trunking subscriptions, linking to their trunk list."""
    if subscription.platform != PLATFORM.key:
        return []
    from fusion_siptrunk import pages

    tab = pages.subscription_tab(actor, subscription)
    return [tab] if tab else []


@hookimpl
def menu_items(actor):
    """Trunks (where the admin's scope has SIP trunking) and the group's SIP settings."""
    from fusion_siptrunk import pages

    return pages.menu(actor)


@hookimpl
def global_search(actor, query, limit):
    """Trunks by name or billing ID, in the admin's scope."""
    from fusion_siptrunk import pages

    return pages.search(actor, query, limit)
