"""Demo data of `make run`: SIP-trunk licences, a demo PoP and a trunk of the first tenant.

The demo SBC points at a Kamailio on this machine (127.0.0.1:5060, JSON-RPC on :5081, its
database under the instance folder): start one with the shipped config (see
`kamailio/README.md`) and the trunk goes in sync at the next reconcile; without it, the trunk
shows what an unreachable SBC looks like. Rows are written directly: loading the demo runs no
job.
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from fusion_core.catalog.models import Entitlement, EntitlementHold, Sku
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.jobs.models import mark
from fusion_siptrunk.models import AccessTrunk, Sbc, Trunk
from fusion_siptrunk.services import next_key

LICENCES = (
    ("sip_channel", "SIP channel", "DEMO-SIP-CH", 20),
    ("siptrunk_national", "SIP trunk (national)", "DEMO-TRUNK-NAT", 2),
    ("siptrunk_international", "SIP trunk (international)", "DEMO-TRUNK-INT", 1),
)


def load(session: Session, group: Organization, tenants: list[Organization]) -> None:
    subs = session.scalars(
        select(Subscription).where(
            Subscription.tenant_id.in_([t.id for t in tenants]), Subscription.platform == "siptrunk"
        )
    ).all()
    if not subs:
        return
    sub = subs[0]
    entitlements = {}
    for key, name, reference, ordered in LICENCES:
        sku = Sku(kind="license", license_type=key, key=key, name=name,
                  external_reference=reference, org_path=group.org_path)  # fmt: skip
        session.add(sku)
        session.flush()
        ent = Entitlement(subscription_id=sub.id, sku_id=sku.id, ordered=ordered, consumed=0,
                          org_path=sub.org_path)  # fmt: skip
        session.add(ent)
        entitlements[key] = ent
    database = Path(current_app.instance_path) / "sbc-demo.db"
    sbc = Sbc(
        org_path=group.org_path,
        name="Demo PoP",
        driver="kamailio",
        locale="en-GB",
        signalling_host="127.0.0.1",
        signalling_port=5060,
        settings={"db_url": f"sqlite:///{database}", "rpc_url": "http://127.0.0.1:5081/RPC"},
        carrier_sources=["127.0.0.1/32"],
        carrier_gateways=[{"host": "127.0.0.1", "port": 5090, "transport": "udp"}],
    )
    session.add(sbc)
    trunk = Trunk(
        subscription_id=sub.id,
        org_path=sub.org_path,
        key=next_key(session),
        name="Head office PBX",
        kind="ip_pbx",
        billing_id="DEMO-TRUNK-1",
        licence="national",
        country="GB",
        format_in="national",
        format_out="national",
        max_calls=4,
    )
    session.add(trunk)
    session.flush()
    access = AccessTrunk(trunk_id=trunk.id, sbc_id=sbc.id, org_path=trunk.org_path,
                         host="192.0.2.10", port=5060, sources=["192.0.2.10/32"])  # fmt: skip
    session.add(access)
    for key, quantity, holder in (
        ("siptrunk_national", 1, ("siptrunk_trunks", trunk.id)),
        ("sip_channel", 4, ("siptrunk_channels", trunk.id)),
    ):
        ent = entitlements[key]
        ent.consumed = quantity
        session.add(EntitlementHold(entitlement_id=ent.id, holder_type=holder[0],
                                    holder_id=str(holder[1]), quantity=quantity,
                                    org_path=ent.org_path))  # fmt: skip
    session.flush()
    mark(session, access, "pending", target=sbc.name)
