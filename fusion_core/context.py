"""Who is acting: the administrator (or system), through what, under which request id.

Held in a context variable so the audit recorder, scoping and jobs read the same value
in a request, a CLI command or a job.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Actor:
    label: str
    via: str  # api, portal, cli, job, system
    admin_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    org_kind: str | None = None
    org_path: str | None = None
    role: str | None = None
    request_id: str | None = None
    # System, CLI and job actors act on the whole platform; an anonymous request has no scope.
    unrestricted: bool = False

    @property
    def is_admin(self) -> bool:
        return self.admin_id is not None

    @property
    def can_write(self) -> bool:
        return self.unrestricted or (self.is_admin and self.role == "admin")

    @property
    def is_group(self) -> bool:
        return self.org_kind == "group"

    def with_request(self, request_id: str) -> Actor:
        return replace(self, request_id=request_id)


SYSTEM = Actor(label="system", via="system", unrestricted=True)

_actor: ContextVar[Actor] = ContextVar("fusion_actor", default=SYSTEM)


def current_actor() -> Actor:
    return _actor.get()


def set_actor(actor: Actor):
    return _actor.set(actor)


def reset_actor(token) -> None:
    _actor.reset(token)


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex
