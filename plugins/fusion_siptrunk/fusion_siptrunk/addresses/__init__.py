"""Emergency/regulatory addresses of a tenant, attachable to trunks and DIDs.

`api` (flask-smorest, /api/v1/siptrunk/addresses) and `portal` (the portal pages) are
registered by `fusion_siptrunk.plugin`. What the rest of the plugin calls:

* `ensure_usable(session, address_id, tenant, country, field)` when a trunk or DID is given
  an address (raises ValidationFailed naming `field`);
* `address_in_use_reasons(session, address)` (extend it with `@in_use_check`);
* `required_for(country)`; `tenant_card(actor, tenant)` for the `tenant_cards` hook;
  `deletion_blockers(entity)` for the core's `deletion_blockers` hook.
"""

from fusion_siptrunk.addresses.api_views import api
from fusion_siptrunk.addresses.models import STATUSES, Address
from fusion_siptrunk.addresses.pages import portal, tenant_card
from fusion_siptrunk.addresses.services import (
    ADDRESS_REQUIRED_COUNTRIES,
    address_in_use_reasons,
    create_address,
    delete_address,
    deletion_blockers,
    ensure_usable,
    in_use_check,
    required_for,
    update_address,
    validate_address,
)

__all__ = [
    "ADDRESS_REQUIRED_COUNTRIES",
    "STATUSES",
    "Address",
    "address_in_use_reasons",
    "api",
    "create_address",
    "delete_address",
    "deletion_blockers",
    "ensure_usable",
    "in_use_check",
    "portal",
    "required_for",
    "tenant_card",
    "update_address",
    "validate_address",
]
