"""/vendor/ serves the npm packages of package.json: from node_modules when npm installed them,
else redirected to the same version range on jsDelivr (a machine with Python only)."""

from __future__ import annotations

import shutil
from urllib.parse import unquote

import pytest

from webui import views


def test_api_docs_load_swagger_ui_from_vendor(app):
    client = app.test_client()
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "/vendor/swagger-ui-dist/swagger-ui-bundle.js" in page.get_data(as_text=True)


@pytest.mark.skipif(not views.NODE_MODULES.is_dir(), reason="npm packages not installed")
def test_installed_packages_are_served_from_node_modules(app):
    response = app.test_client().get("/vendor/swagger-ui-dist/swagger-ui-bundle.js")
    assert response.status_code == 200
    assert b"SwaggerUIBundle" in response.data[:200_000]


def test_a_package_npm_did_not_install_redirects_to_the_registry_cdn(app, tmp_path, monkeypatch):
    shutil.copy(views.NODE_MODULES.parent / "package.json", tmp_path / "package.json")
    monkeypatch.setattr(views, "NODE_MODULES", tmp_path / "node_modules")
    views._npm_ranges.cache_clear()
    try:
        client = app.test_client()
        docs = client.get("/vendor/swagger-ui-dist/swagger-ui-bundle.js")
        assert docs.status_code == 302
        assert unquote(docs.headers["Location"]) == (
            f"{views.NPM_CDN}swagger-ui-dist@{views._npm_ranges()['swagger-ui-dist']}"
            "/swagger-ui-bundle.js"
        )
        scoped = client.get("/vendor/@picocss/pico/css/pico.min.css")
        assert scoped.status_code == 302
        assert scoped.headers["Location"].startswith(f"{views.NPM_CDN}@picocss/pico@")
        assert scoped.headers["Location"].endswith("/css/pico.min.css")
        for path in ("left-pad/index.js", "swagger-ui-dist", "swagger-ui-dist/../x"):
            assert client.get(f"/vendor/{path}").status_code == 404, path
    finally:
        views._npm_ranges.cache_clear()
