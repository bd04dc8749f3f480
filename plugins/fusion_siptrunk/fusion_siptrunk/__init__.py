"""Fusion connector: SIP trunking."""
