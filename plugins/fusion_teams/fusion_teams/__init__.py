"""Fusion connector: Microsoft Teams Direct Routing."""
