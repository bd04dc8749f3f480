"""Fusion core: hierarchy, administrators, audit, plugin contract, jobs and the REST API."""

__version__ = "0.1.0"
