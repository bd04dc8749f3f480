"""Accessibility of the portal in a real browser: every page the menu reaches, and the forms
linked from them, name each control (a label, aria-label or aria-labelledby), give every image
an alt text, keep ids unique and tabindex natural; the keyboard's first stop is the skip link,
which lands in the page's content, and Tab walks the regions in reading order with a visible
focus. Colour contrast is checked where colours are chosen (test_portal_branding.py)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from browsing import HOST_A, shot, sign_in

# Problems on the page, each with the offending element's start tag.
AUDIT_JS = """() => {
  const problems = [];
  const tag = el => el.outerHTML.slice(0, 140);
  const byIds = ids => ids.split(/\\s+/).map(i => document.getElementById(i))
    .filter(Boolean).map(e => e.textContent.trim()).join(' ');
  const name = el => ((el.getAttribute('aria-label') || '').trim()
    || (el.getAttribute('aria-labelledby') ? byIds(el.getAttribute('aria-labelledby')) : '')
    || (el.labels ? [...el.labels].map(l => l.textContent.trim()).join(' ') : '')).trim();
  const fields = 'input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea';
  for (const el of document.querySelectorAll(fields)) {
    if (!name(el)) problems.push('control without a label: ' + tag(el));
  }
  for (const el of document.querySelectorAll('button, a[href], input[type=submit]')) {
    const text = (el.textContent || el.value || '').trim()
      || [...el.querySelectorAll('img[alt]')].map(i => i.alt).join('').trim();
    if (!text && !name(el)) problems.push('link or button without a name: ' + tag(el));
  }
  for (const el of document.querySelectorAll('img:not([alt])')) {
    problems.push('image without alt: ' + tag(el));
  }
  for (const el of document.querySelectorAll('[tabindex]')) {
    if (parseInt(el.getAttribute('tabindex'), 10) > 0) problems.push('tabindex > 0: ' + tag(el));
  }
  const seen = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (seen.has(el.id)) problems.push('duplicate id: ' + el.id);
    seen.add(el.id);
  }
  if (!document.documentElement.lang) problems.push('no lang on <html>');
  if (!document.title.trim()) problems.push('no <title>');
  if (document.querySelectorAll('main').length !== 1) problems.push('not exactly one <main>');
  return problems;
}"""

# Where the focused element sits: the page's regions in reading order.
REGION_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  // the layout's regions (a card's own <header> inside main is main)
  const region = el.closest('main') || el.closest('aside') || el.closest('body > header')
    || el.closest('body > footer');
  const style = getComputedStyle(el);
  const visible = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
    || style.boxShadow !== 'none';
  return {
    region: region ? region.tagName.toLowerCase() : 'body',
    text: (el.textContent || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 40),
    skip: el.classList.contains('skip-link'),
    visible: visible,
  };
}"""

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ORDER = ["body", "header", "aside", "main", "footer"]


@pytest.fixture
def tree(make):
    group = make.group(
        "Access Telecom", product_name="Access Voice", logo_url="/static/none.png",
        hostnames=[HOST_A],
    )  # fmt: skip
    distributor = make.org("distributor", group, "Access Distribution")
    reseller = make.org("reseller", distributor, "Access Reseller")
    tenant = make.org("tenant", reseller, "Access Tenant")
    make.subscription(tenant, "siptrunk", name="Access trunking")
    return {"group": group, "tenant": tenant, "admin": make.admin(group)}


def local_links(page, selector: str) -> list[str]:
    hrefs = page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('href'))")
    return [h for h in hrefs if h and h.startswith("/") and not h.startswith("//")]


def test_every_menu_page_and_its_forms_name_their_controls(page, url, tree):
    sign_in(page, url, tree["admin"])
    pages = ["/", f"/orgs/{tree['tenant'].id}", *local_links(page, "nav[aria-label=Sections] a")]
    assert len(pages) >= 8, pages  # the menu reaches the sections
    forms: list[str] = []
    problems: dict[str, list[str]] = {}
    for path in dict.fromkeys(pages):
        page.goto(url(path))
        # the create and edit forms linked from the page (links, or buttons of GET forms)
        forms += [
            h
            for h in local_links(page, "#content a")
            if urlsplit(h).path.endswith(("/new", "/edit"))
        ]
        found = page.evaluate(AUDIT_JS)
        if found:
            problems[path] = found
    # one of each form: ids and query strings aside
    forms = list({UUID.sub("*", urlsplit(h).path): h for h in reversed(forms)}.values())
    assert len(forms) >= 6, forms  # organisations, subscriptions, orders, admins, products…
    for path in forms:
        page.goto(url(path))
        found = page.evaluate(AUDIT_JS)
        if found:
            problems[path] = found
    shot(page, "accessibility-form")
    assert problems == {}


def test_the_keyboard_starts_at_the_skip_link_and_walks_the_regions_in_order(page, url, tree):
    sign_in(page, url, tree["admin"])
    page.goto(url(f"/orgs/{tree['tenant'].id}"))

    page.keyboard.press("Tab")
    first = page.evaluate(REGION_JS)
    assert first and first["skip"], first  # the first stop: "Skip to content"
    box = page.locator(".skip-link").bounding_box()
    assert box and box["width"] > 1 and box["height"] > 1  # shown while focused
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#content"
    page.keyboard.press("Tab")
    after_skip = page.evaluate(REGION_JS)
    assert after_skip and after_skip["region"] == "main", after_skip  # past the menus

    page.goto(url(f"/orgs/{tree['tenant'].id}"))
    stops = []
    for _ in range(60):
        page.keyboard.press("Tab")
        stop = page.evaluate(REGION_JS)
        if stop is None:
            break
        stops.append(stop)
    regions = [s["region"] for s in stops]
    assert {"header", "aside", "main"} <= set(regions), regions
    ranks = [ORDER.index(r) for r in regions]
    walked = " | ".join(f"{s['region']}: {s['text']}" for s in stops)
    assert ranks == sorted(ranks), walked  # the top bar, then the sidebar, then the content
    unseen = [s for s in stops if not s["visible"]]
    assert unseen == [], unseen  # every stop shows where the focus is
