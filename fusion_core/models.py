"""Imports every core model so Base.metadata (migrations, tests) sees them all."""

from fusion_core.audit.models import AuditEntry
from fusion_core.catalog.models import (
    Entitlement,
    EntitlementHold,
    Order,
    OrderLine,
    Product,
    ProductLine,
    Sku,
)
from fusion_core.events import OutboxEvent
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.iam.models import Admin, ApiToken, LoginThrottle
from fusion_core.jobs.models import SyncStatus
from fusion_core.numbering import models as numbering  # noqa: F401 - the numbering tables

__all__ = [
    "Admin",
    "ApiToken",
    "AuditEntry",
    "Entitlement",
    "EntitlementHold",
    "LoginThrottle",
    "Order",
    "OrderLine",
    "Organization",
    "OutboxEvent",
    "Product",
    "ProductLine",
    "Sku",
    "Subscription",
    "SyncStatus",
]
