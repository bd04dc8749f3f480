"""Registers the Microsoft Teams Direct Routing connector with Fusion's core."""

from __future__ import annotations

from pathlib import Path

from fusion_core.hookspecs import hookimpl
from fusion_core.registry import Platform

PLATFORM = Platform(
    key="teams",
    name="Microsoft Teams Direct Routing",
    description="Teams users and resource accounts provisioned through Microsoft Graph.",
)


@hookimpl
def register_platforms():
    return [PLATFORM]


@hookimpl
def register_migrations():
    return [str(Path(__file__).parent / "migrations" / "versions")]
