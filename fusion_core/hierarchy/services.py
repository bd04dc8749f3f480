"""Rules and transactions for organisations and subscriptions."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fusion_core.context import Actor, current_actor
from fusion_core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from fusion_core.events import emit
from fusion_core.hierarchy.models import (
    ALLOWED_PARENTS,
    Organization,
    Subscription,
    path_for,
)
from fusion_core.permissions import require_write
from fusion_core.scope import load


def _parent(parent_id: uuid.UUID, kind: str, actor: Actor) -> Organization:
    try:
        parent = load(Organization, parent_id, actor)
    except NotFound:
        raise ValidationFailed(
            "The parent organisation does not exist or is outside your scope.",
            errors={"parent_id": [f"No organization with id {parent_id} in your scope."]},
        ) from None
    allowed = ALLOWED_PARENTS[kind]
    if parent.kind not in allowed:
        raise ValidationFailed(
            f"A {kind} cannot be placed under a {parent.kind}.",
            errors={
                "parent_id": [
                    f"A {kind}'s parent must be a {' or a '.join(allowed)}, not a {parent.kind}."
                ]
            },
        )
    return parent


def create_group(session: Session, name: str, branding: dict[str, Any] | None = None):
    """Bootstrap a service provider's root organisation (CLI only: no API creates groups)."""
    group = Organization(kind="group", name=name, parent_id=None, status="active")
    group.org_path = path_for(group.id, None)
    group.branding = branding or {"product_name": name}
    session.add(group)
    emit(session, "organization.created", group.org_path, id=group.id, kind="group")
    return group


def create_organization(
    session: Session,
    kind: str,
    parent_id: uuid.UUID,
    name: str,
    external_billing_id: str | None = None,
    status: str = "active",
    actor: Actor | None = None,
    commit: bool = True,
) -> Organization:
    """Create an organisation under `parent_id`. With `commit=False` the caller commits (bulk
    loads commit every few thousand rows); audit entries and events are written either way."""
    actor = actor or current_actor()
    require_write(actor)
    if kind == "group":
        raise ValidationFailed("Groups are created with `fusion admin create-group`.")
    parent = _parent(parent_id, kind, actor)
    org = Organization(
        kind=kind,
        name=name,
        parent_id=parent.id,
        external_billing_id=external_billing_id,
        status=status,
    )
    org.org_path = path_for(org.id, parent)
    session.add(org)
    emit(session, "organization.created", org.org_path, id=org.id, kind=kind)
    if commit:
        session.commit()
    return org


def update_organization(
    session: Session, org: Organization, changes: dict[str, Any], actor: Actor | None = None
) -> Organization:
    actor = actor or current_actor()
    require_write(actor)
    if "status" in changes and changes["status"] != org.status and org.org_path == actor.org_path:
        raise Forbidden(
            "An organisation's status is set from above it.",
            errors={"status": ["You cannot suspend or reactivate your own organisation."]},
        )
    if "branding" in changes and org.kind != "group":
        raise ValidationFailed(
            "Only groups carry branding.", errors={"branding": ["Only groups carry branding."]}
        )
    if "branding" in changes:
        from fusion_core.hierarchy.branding import check_branding, hostname_owner

        check_branding(changes["branding"])
        taken = hostname_owner(session, changes["branding"].get("hostnames", []), org.id)
        if taken:
            raise Conflict(
                f"Host name {taken} already serves another group's portal.",
                errors={"branding.hostnames": [f"{taken} is used by another group."]},
            )
    for key, value in changes.items():
        setattr(org, key, value)
    if session.is_modified(org):
        emit(session, "organization.updated", org.org_path, id=org.id, fields=sorted(changes))
    session.commit()
    return org


def deletion_blockers(session: Session, org: Organization) -> list[str]:
    reasons = []
    children = session.scalar(
        select(func.count()).select_from(Organization).where(Organization.parent_id == org.id)
    )
    if children:
        reasons.append(f"it has {children} child organisation(s)")
    live = session.scalar(
        select(func.count())
        .select_from(Subscription)
        .where(Subscription.tenant_id == org.id, Subscription.status != "cancelled")
    )
    if live:
        reasons.append(f"it has {live} live subscription(s); cancel them first")
    pm = current_app.extensions["fusion.plugins"]
    for plugin_reasons in pm.hook.deletion_blockers(entity=org):
        reasons.extend(plugin_reasons or [])
    return reasons


def delete_organization(session: Session, org: Organization, actor: Actor | None = None) -> None:
    actor = actor or current_actor()
    require_write(actor)
    if org.org_path == actor.org_path:
        raise Forbidden("You cannot delete your own organisation.")
    reasons = deletion_blockers(session, org)
    if reasons:
        raise Conflict(
            f"The {org.kind} cannot be deleted: {'; '.join(reasons)}.",
            errors={"id": reasons},
        )
    from fusion_core.iam.models import Admin, ApiToken

    # Delete owned rows as objects, so each deletion is audited like any other.
    for model in (ApiToken, Admin, Subscription):
        for row in session.scalars(select(model).where(model.org_path == org.org_path)):
            session.delete(row)
    session.flush()
    session.delete(org)
    emit(session, "organization.deleted", org.org_path, id=org.id, kind=org.kind)
    session.commit()


def _platform(platform: str) -> str:
    platforms = current_app.extensions["fusion"].registry.platforms
    if platform not in platforms:
        raise ValidationFailed(
            f"Unknown platform {platform!r}.",
            errors={
                "platform": [f"Must be one of: {', '.join(sorted(platforms)) or 'none installed'}."]
            },
        )
    return platform


def has_subscription(session: Session, tenant: Organization, platform: str) -> bool:
    """Whether the tenant has a subscription of `platform` (connectors show their cards then)."""
    stmt = select(Subscription.id).where(
        Subscription.tenant_id == tenant.id, Subscription.platform == platform
    )
    return session.scalar(stmt.limit(1)) is not None


def _require_upstream(actor: Actor, tenant: Organization) -> None:
    if not actor.unrestricted and actor.org_kind == "tenant":
        raise Forbidden("Subscriptions are managed by the tenant's provider, not the tenant.")


def create_subscription(
    session: Session,
    tenant: Organization,
    platform: str,
    name: str,
    billing_id: str | None = None,
    status: str = "active",
    actor: Actor | None = None,
    commit: bool = True,
) -> Subscription:
    actor = actor or current_actor()
    require_write(actor)
    _require_upstream(actor, tenant)
    if tenant.kind != "tenant":
        raise ValidationFailed(
            "Subscriptions belong to tenants.",
            errors={"tenant_id": [f"Organisation {tenant.id} is a {tenant.kind}, not a tenant."]},
        )
    sub = Subscription(
        tenant_id=tenant.id,
        platform=_platform(platform),
        name=name,
        billing_id=billing_id,
        status=status,
        org_path=tenant.org_path,
    )
    session.add(sub)
    emit(session, "subscription.created", sub.org_path, id=sub.id, platform=platform)
    if commit:
        session.commit()
    return sub


def update_subscription(
    session: Session, sub: Subscription, changes: dict[str, Any], actor: Actor | None = None
) -> Subscription:
    actor = actor or current_actor()
    require_write(actor)
    _require_upstream(actor, sub.tenant)
    for key, value in changes.items():
        setattr(sub, key, value)
    if session.is_modified(sub):
        emit(session, "subscription.updated", sub.org_path, id=sub.id, fields=sorted(changes))
    session.commit()
    return sub


def delete_subscription(session: Session, sub: Subscription, actor: Actor | None = None) -> None:
    actor = actor or current_actor()
    require_write(actor)
    _require_upstream(actor, sub.tenant)
    pm = current_app.extensions["fusion.plugins"]
    reasons = [r for rs in pm.hook.deletion_blockers(entity=sub) for r in rs or []]
    if reasons:
        raise Conflict(
            f"The subscription cannot be deleted: {'; '.join(reasons)}.", errors={"id": reasons}
        )
    session.delete(sub)
    emit(session, "subscription.deleted", sub.org_path, id=sub.id, platform=sub.platform)
    session.commit()
