"""White-label: the request's host name picks the group whose branding every page wears."""

from __future__ import annotations

import re

import pytest

from fusion_core.db import get_db
from fusion_core.hierarchy.branding import contrast
from fusion_core.hierarchy.models import Organization


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def branded_group(make, name, host, **extra):
    return make.group(
        name,
        product_name=f"{name} Cloud",
        primary_color=extra.pop("primary_color", "#aa0000"),
        hostnames=[host],
        support_email=f"help@{name.lower()}.example",
        **extra,
    )


def test_the_host_name_picks_the_branding_on_the_login_page(portal, make):
    branded_group(make, "Alpha", "portal.alpha.test", logo_url="https://alpha.example/logo.png")
    branded_group(make, "Beta", "portal.beta.test", primary_color="#00aa00")
    alpha = portal(host="portal.alpha.test").get("/login").get_data(as_text=True)
    beta = portal(host="portal.beta.test").get("/login").get_data(as_text=True)
    assert "Sign in to Alpha Cloud" in alpha and "Beta" not in alpha
    assert "--brand-primary: #aa0000" in alpha
    assert 'src="https://alpha.example/logo.png"' in alpha
    assert "help@alpha.example" in alpha
    assert "Sign in to Beta Cloud" in beta and "--brand-primary: #00aa00" in beta
    for page in (alpha, beta):
        assert "Fusion" not in visible_text(page)


def test_unknown_host_falls_back_to_the_neutral_brand(portal, make):
    branded_group(make, "Alpha", "portal.alpha.test")
    page = portal(host="elsewhere.test").get("/login").get_data(as_text=True)
    assert "Sign in to Fusion" in page
    assert "Alpha" not in page


def test_a_branded_portal_signs_in_only_its_own_groups_admins(portal, make):
    alpha = branded_group(make, "Alpha", "portal.alpha.test")
    beta = branded_group(make, "Beta", "portal.beta.test")
    beta_admin = make.admin(beta)
    client = portal(host="portal.alpha.test")
    client.get("/login")
    refused = client.post(
        "/login", {"email": beta_admin.email, "password": "correct-horse-battery"}
    )
    assert refused.status_code == 401
    assert "Wrong email or password." in refused.get_data(as_text=True)
    portal(make.admin(alpha), host="portal.alpha.test")  # asserts the redirect after sign-in


def test_signed_in_pages_carry_the_brand_and_no_fusion_text(portal, make):
    group = branded_group(make, "Alpha", "portal.alpha.test")
    tenant = make.org("tenant", group, "Shop")
    client = portal(make.admin(group), host="portal.alpha.test")
    for path in ("/tenants", f"/orgs/{tenant.id}", "/admins", "/audit", "/settings", "/search?q=x"):
        page = client.get(path).get_data(as_text=True)
        assert "Alpha Cloud" in page, path
        assert "Fusion" not in visible_text(page), path


def test_settings_saves_branding_through_the_core_service(app, portal, make):
    group = branded_group(make, "Alpha", "portal.alpha.test")
    client = portal(make.admin(group), host="portal.alpha.test")
    client.get("/settings")
    response = client.post(
        "/settings",
        {
            "product_name": "Alpha Voice",
            "primary_color": "#123456",
            "accent_color": "#654321",
            "support_email": "care@alpha.example",
            "hostnames": "portal.alpha.test\nvoice.alpha.test",
        },
        follow_redirects=True,
    )
    body = response.get_data(as_text=True)
    assert "Branding saved." in body
    assert "--brand-primary: #123456" in body and "Alpha Voice" in body
    with app.app_context():
        saved = get_db().session.get(Organization, group.id).branding
    assert saved["hostnames"] == ["portal.alpha.test", "voice.alpha.test"]
    assert saved["support_email"] == "care@alpha.example"
    assert "Alpha Voice" in portal(host="voice.alpha.test").get("/login").get_data(as_text=True)


def test_invalid_branding_is_refused_beside_its_field(app, portal, make):
    group = branded_group(make, "Alpha", "portal.alpha.test")
    branded_group(make, "Beta", "portal.beta.test")
    client = portal(make.admin(group), host="portal.alpha.test")
    client.get("/settings")
    bad = client.post(
        "/settings",
        {
            "product_name": "Alpha",
            "primary_color": "red;}</style>",
            "logo_url": "javascript:alert(1)",
            "hostnames": "portal.alpha.test",
        },
    )
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert re.search(r'id="f-primary_color-error" class="field-error">A colour as #rrggbb', body)
    assert re.search(r'id="f-logo_url-error" class="field-error">An http', body)
    taken = client.post(
        "/settings", {"product_name": "Alpha", "hostnames": "portal.beta.test"}
    ).get_data(as_text=True)
    assert re.search(r'id="f-hostnames-error" class="field-error">portal.beta.test is used', taken)
    with app.app_context():
        saved = get_db().session.get(Organization, group.id).branding
    assert saved["hostnames"] == ["portal.alpha.test"]
    assert saved["primary_color"] == "#aa0000"


@pytest.mark.parametrize(
    ("a", "b", "ratio"),
    [("#ffffff", "#000000", 21.0), ("#767676", "#ffffff", 4.54), ("#777777", "#ffffff", 4.48)],
)
def test_contrast_is_the_wcag_ratio(a, b, ratio):
    assert round(contrast(a, b), 2) == ratio
    assert round(contrast(b, a), 2) == ratio


def test_colours_that_text_cannot_be_read_in_are_refused_beside_their_field(app, portal, make):
    group = branded_group(make, "Alpha", "portal.alpha.test")
    client = portal(make.admin(group), host="portal.alpha.test")
    client.get("/settings")
    form = {"product_name": "Alpha", "hostnames": "portal.alpha.test"}
    light = client.post("/settings", {**form, "primary_color": "#777777"})
    assert light.status_code == 422
    assert re.search(
        r'id="f-primary_color-error" class="field-error">Too light for text on the white page: '
        r"contrast 4.48:1, WCAG AA needs 4.5:1",
        light.get_data(as_text=True),
    )
    # #767676 passes on white, but takes black text; black on a dark accent cannot be read.
    hover = client.post(
        "/settings", {**form, "primary_color": "#767676", "accent_color": "#14532d"}
    )
    assert hover.status_code == 422
    assert re.search(
        r'id="f-accent_color-error" class="field-error">Buttons&#39; black text on the accent '
        r"colour \(their hover\) has contrast 2.30:1",
        hover.get_data(as_text=True),
    )
    with app.app_context():
        assert get_db().session.get(Organization, group.id).branding["primary_color"] == "#aa0000"
    fine = client.post("/settings", {**form, "primary_color": "#123456", "accent_color": "#0f766e"})
    assert fine.status_code == 302
    with app.app_context():
        saved = get_db().session.get(Organization, group.id).branding
    assert (saved["primary_color"], saved["accent_color"]) == ("#123456", "#0f766e")


def test_settings_are_for_group_admins_only(portal, make):
    tree = make.tree()
    response = portal(make.admin(tree["distributor"])).get("/settings")
    assert response.status_code == 404


def test_the_core_service_refuses_unknown_branding_fields(app_ctx, make):
    import pytest

    from fusion_core.errors import ValidationFailed
    from fusion_core.hierarchy.services import update_organization

    group = get_db().session.get(Organization, make.group().id)
    with pytest.raises(ValidationFailed) as refused:
        update_organization(get_db().session, group, {"branding": {"font": "Comic Sans"}})
    assert list(refused.value.errors) == ["branding.font"]
