"""Demo data for `make run`: a branded group, its tree, subscriptions and one admin per level."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fusion_core.hierarchy import services as hierarchy
from fusion_core.hierarchy.models import Organization
from fusion_core.iam import services as iam

DEMO_GROUP = "Nimbus Telecom"
DEMO_PASSWORD = "fusion-demo-2026"
DEMO_BRANDING = {
    "product_name": "Nimbus Connect",
    "primary_color": "#0b5fff",
    "accent_color": "#00796b",
    "support_email": "support@nimbus.example",
    "mail_sender": "no-reply@nimbus.example",
    "hostnames": ["localhost", "127.0.0.1"],
}


DEMO_LOGINS = (
    ("group", "admin@nimbus.example"),
    ("distributor", "admin@northwind.example"),
    ("reseller", "admin@bluebird.example"),
    ("tenant", "admin@acme.example"),
)


def load_demo(session: Session, pm, platforms: list[str]) -> bool:
    """Create the demo once; False when it is already there (nothing is changed then)."""
    if session.scalar(select(Organization.id).where(Organization.name == DEMO_GROUP)):
        return False
    group = hierarchy.create_group(session, DEMO_GROUP, DEMO_BRANDING)
    session.flush()
    distributor = hierarchy.create_organization(
        session, "distributor", group.id, "Northwind Distribution", "BSS-D-001"
    )
    reseller = hierarchy.create_organization(
        session, "reseller", distributor.id, "Bluebird Reseller", "BSS-R-001"
    )
    tenants = [
        hierarchy.create_organization(session, "tenant", reseller.id, name, billing)
        for name, billing in (("Acme Corp", "BSS-T-001"), ("Globex", "BSS-T-002"))
    ]
    tenants.append(
        hierarchy.create_organization(session, "tenant", distributor.id, "Initech", "BSS-T-003")
    )
    # The first tenant has one subscription of every platform; the others one each.
    platforms = sorted(platforms)
    for index, tenant in enumerate(tenants):
        chosen = platforms if index == 0 else platforms[index % len(platforms) :][:1]
        for platform in chosen:
            hierarchy.create_subscription(
                session,
                tenant,
                platform,
                f"{tenant.name} {platform}",
                f"SUB-{index}-{platform}",
                commit=False,
            )
    orgs = {"group": group, "distributor": distributor, "reseller": reseller, "tenant": tenants[0]}
    for level, email in DEMO_LOGINS:
        org = orgs[level]
        iam.create_admin(
            session, org, email, f"{org.name} admin", "admin", DEMO_PASSWORD, commit=False
        )
    pm.hook.load_demo_data(session=session, group=group, tenants=tenants)
    session.commit()
    return True
