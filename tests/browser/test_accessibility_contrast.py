"""Contrast measured on the rendered pages, from the browser's computed styles (not the CSS text).

WCAG 1.4.11 asks 3:1 for what shows state or a control's edge: the focus ring and the fields'
borders, against the card (white) they sit on and against the page's background. Text that says
something (muted help, the badges of the list) asks 4.5:1 against its own background (1.4.3).
axe-core checks text too (test_accessibility_pages.py); it does not check borders or rings.
"""

from __future__ import annotations

import re

import pytest

from keypairs.models import Delivery
from portal.auth.roles import Role, assign_roles
from tests.offboarding_world import made

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"
NON_TEXT_MINIMUM = 3.0
TEXT_MINIMUM = 4.5
WHITE = (255, 255, 255)

# The colour an element's background shows: its own, or the first ancestor's that is not transparent.
STYLES = """(element) => {
  const style = getComputedStyle(element);
  let behind = element, background = 'rgba(0, 0, 0, 0)';
  while (behind) {
    background = getComputedStyle(behind).backgroundColor;
    if (!/rgba\\(.*, 0\\)$/.test(background)) break;
    behind = behind.parentElement;
  }
  return {
    color: style.color, border: style.borderTopColor, borderStyle: style.borderTopStyle,
    outline: style.outlineColor, outlineStyle: style.outlineStyle, outlineWidth: style.outlineWidth,
    background: behind ? background : 'rgb(255, 255, 255)',
    page: getComputedStyle(document.body).backgroundColor,
  };
}"""


def rgb(css: str) -> tuple[int, int, int]:
    red, green, blue = (int(float(part)) for part in re.findall(r"[\d.]+", css)[:3])
    return red, green, blue


def luminance(color: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(value) for value in color)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_contrast_helper_agrees_with_wcag():
    assert round(contrast((0, 0, 0), WHITE), 1) == 21.0
    assert round(contrast(rgb("rgb(157, 183, 245)"), WHITE), 1) == 2.0  # the old focus ring, #9db7f5


@pytest.fixture
def alice(django_user_model):
    user = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    assign_roles(user, {Role.DEVELOPER})
    return user


def sign_in(page, username: str) -> None:
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form[action='/accounts/login/'] button[type=submit]").click()


def styles(locator) -> dict:
    return locator.evaluate(STYLES)


def test_fields_borders_and_the_focus_ring_stand_out_from_the_card_and_the_page(page, alice, portal_on_sandbox):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/keypairs/new")
    sign_in(page, "alice")
    page.locator("#create-form").wait_for()
    too_faint = []

    fields = page.locator("#create-form").locator("input[type=text], select, textarea")
    assert fields.count() >= 3
    for index in range(fields.count()):
        field = fields.nth(index)
        name = field.get_attribute("id")
        seen = styles(field)
        assert seen["borderStyle"] != "none", f"{name} has no border"
        border = rgb(seen["border"])
        for against, behind in (("its card", seen["background"]), ("the page", seen["page"])):
            ratio = contrast(border, rgb(behind))
            if ratio < NON_TEXT_MINIMUM:
                too_faint.append(f"{name}'s border {seen['border']} on {against} {behind}: {ratio:.2f}:1")

    # The ring, on each kind of thing the keyboard reaches: a field, a select, a button, a link.
    for selector in ("#id_name", "#id_region", "#create-button", "nav a"):
        target = page.locator(selector).first
        target.focus()
        page.keyboard.press("Shift+Tab")  # reached by keyboard, so that :focus-visible applies
        page.keyboard.press("Tab")
        assert target.evaluate("element => element === document.activeElement"), selector
        seen = styles(target)
        if seen["outlineStyle"] in ("none", "auto") or float(seen["outlineWidth"][:-2]) < 2:
            # "auto" is the browser's own ring, whose colour the page does not choose.
            too_faint.append(f"{selector} shows no ring of the portal's: outline {seen['outlineStyle']}")
            continue
        ring = rgb(seen["outline"])
        for against, behind in (("white", "rgb(255, 255, 255)"), ("the page", seen["page"])):
            ratio = contrast(ring, rgb(behind))
            if ratio < NON_TEXT_MINIMUM:
                too_faint.append(f"the focus ring of {selector}, {seen['outline']}, on {against}: {ratio:.2f}:1")

    assert too_faint == [], "\n".join(too_faint)


def test_muted_text_and_the_badges_of_the_list_are_readable(page, alice, portal_on_sandbox):
    made(alice, "waiting-key")
    downloaded = made(alice, "downloaded-key")
    Delivery.objects.filter(request=downloaded).update(claimed_at=downloaded.created_at, ciphertext=None)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/keypairs/")
    sign_in(page, "alice")
    page.locator("table").first.wait_for()
    too_faint = []

    badges = page.locator(".badge")
    muted = page.locator(".muted, .help, th, dl.facts dt, nav .who, .footer")
    assert badges.count() >= 2 and muted.count() >= 1
    for group in (badges, muted):
        for index in range(group.count()):
            element = group.nth(index)
            if not element.is_visible():
                continue
            seen = styles(element)
            ratio = contrast(rgb(seen["color"]), rgb(seen["background"]))
            if ratio < TEXT_MINIMUM:
                text = element.inner_text().strip()[:40]
                too_faint.append(f"{text!r}: {seen['color']} on {seen['background']}: {ratio:.2f}:1")

    assert too_faint == [], "\n".join(too_faint)
