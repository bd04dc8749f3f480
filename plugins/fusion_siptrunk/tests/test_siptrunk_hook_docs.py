"""The plugin's own hooks are documented in docs/siptrunk.md with their exact signatures and
exercised by a test of the plugin, like the core's (tests/test_hook_docs.py)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from fusion_siptrunk.hookspecs import SiptrunkSpecs

ROOT = Path(__file__).resolve().parents[3]
DOCS = (ROOT / "docs" / "siptrunk.md").read_text()
HOOKS = sorted(
    name
    for name, fn in vars(SiptrunkSpecs).items()
    if hasattr(getattr(fn, "__func__", fn), "fusion_spec")
)


def test_the_hooks_are_found():
    assert {"register_sbc_drivers", "validate_address_online"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_exact_signature(name):
    signature = inspect.signature(getattr(SiptrunkSpecs, name))
    assert f"### `{name}`" in DOCS
    assert f"```python\ndef {name}{signature}\n```" in DOCS, f"def {name}{signature}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_exercised_by_a_test(name):
    here = Path(__file__)
    sources = [p.read_text() for p in here.parent.rglob("test_*.py") if p != here]
    assert any(name in source for source in sources), f"no test of the plugin names {name}"
