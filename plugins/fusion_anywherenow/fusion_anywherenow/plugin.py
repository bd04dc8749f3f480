"""Registers the AnywhereNow contact centre connector with Fusion's core."""

from __future__ import annotations

from pathlib import Path

from fusion_core.hookspecs import hookimpl
from fusion_core.registry import Platform

PLATFORM = Platform(
    key="anywherenow",
    name="AnywhereNow contact centre",
    description="Contact-centre sites, agents and supervisors on AnywhereNow.",
)


@hookimpl
def register_platforms():
    return [PLATFORM]


@hookimpl
def register_migrations():
    return [str(Path(__file__).parent / "migrations" / "versions")]
