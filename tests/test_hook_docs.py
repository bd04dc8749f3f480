"""Meta-tests: every hook is documented with its exact signature, implemented by the example
plugin and exercised by a test. Adding a hook without docs or a test fails here."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from fusion_core import hookspecs

ROOT = Path(__file__).parent.parent
DOCS = (ROOT / "docs" / "plugin-hooks.md").read_text()
HOOKS = sorted(
    name
    for name, fn in vars(hookspecs).items()
    if inspect.isfunction(fn) and hasattr(fn, "fusion_spec")
)


def test_the_hooks_are_found():
    assert {"register_platforms", "menu_items", "event_committed"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_exact_signature(name):
    signature = inspect.signature(getattr(hookspecs, name))
    assert f"### `{name}`" in DOCS, f"docs/plugin-hooks.md lacks a section for {name}"
    assert f"```python\ndef {name}{signature}\n```" in DOCS, (
        f"docs/plugin-hooks.md shows a different signature for {name}: def {name}{signature}"
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT / "tests" / "plugins" / "fusion_example"))
        yield importlib.import_module("fusion_example.plugin")


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_implemented_by_the_example_plugin(example, name):
    impl = getattr(example, name, None)
    assert impl is not None and hasattr(impl, "fusion_impl"), (
        f"tests/plugins/fusion_example implements no {name}"
    )


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_exercised_by_a_test(name):
    own = {Path(__file__).name}
    sources = [
        path.read_text() for path in (ROOT / "tests").rglob("test_*.py") if path.name not in own
    ]
    assert any(name in source for source in sources), f"no test in tests/ names {name}"
