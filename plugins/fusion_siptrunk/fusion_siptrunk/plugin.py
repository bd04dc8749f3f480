"""Registers the SIP trunking connector with Fusion's core."""

from __future__ import annotations

from pathlib import Path

from fusion_core.hookspecs import hookimpl
from fusion_core.registry import Platform

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
