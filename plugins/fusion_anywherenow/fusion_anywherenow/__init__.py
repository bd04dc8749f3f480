"""Fusion connector: AnywhereNow contact centre."""
