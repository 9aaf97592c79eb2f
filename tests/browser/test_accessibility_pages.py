"""Every page a person can reach, checked by axe-core and for sideways scrolling, in both languages
at 1280 px and 390 px (issue 13, "Accessible").

One browser context per language walks all the pages, each checked at both widths: the developer's own flow in the
browser (the create form, its errors, the namesake warning, the result, the download, the report
and its confirmation), then the pages of each state and each role, signed in by session cookie.
Problems are collected over the whole walk and reported together, each with the page, the axe
rule, its impact and the offending elements, so that one run shows everything to fix.

Screenshots of the main pages go to /tmp/screens/a11y-<language>-<width>-<page>.png for a person
to look at; nothing asserts on them.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from keypairs.models import AccessRule, AuditEvent, Delivery, KeyPairRequest
from portal.auth.roles import Role, assign_roles
from tests.access_world import pending_request
from tests.browser.axe import page_problems
from tests.browser.conftest import DEFAULT_TIMEOUT_MS
from tests.browser.test_create_and_download import screenshot
from tests.offboarding_world import bind, made
from tests.sandbox_instances import linux_instances
from tests.test_bcc_state import imported

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"
KEYPAIR_PAGE = re.compile(r"/keypairs/[0-9a-f-]{36}/$")
# The browser's locale: its Accept-Language picks the portal's language.
LOCALES = [pytest.param("en-US", id="en"), pytest.param("zh-CN", id="zh")]
# Each page is checked at both widths: the window is resized, not the page loaded twice.
WINDOWS = [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]


def person(django_user_model, username: str, *roles: Role):
    user = django_user_model.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com")
    assign_roles(user, set(roles))
    return user


def in_state(record: KeyPairRequest, **delivery_fields) -> KeyPairRequest:
    Delivery.objects.filter(request=record).update(**delivery_fields)
    return record


@pytest.fixture
def world(django_user_model, portal_on_sandbox, settings):
    """The people and key pairs of every page state, made through the services and the sandbox."""
    settings.BCC_REGIONS = ["bj", "gz"]
    settings.KEYPAIR_CREATE_RATE_LIMIT = 0  # Alice's many key pairs are made in one go
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 50
    settings.BCC_READ_TIMEOUT = 20.0  # RSA key pairs, made while other browser tests load the machine
    now = timezone.now()
    alice = person(django_user_model, "alice", Role.DEVELOPER)
    carol = person(django_user_model, "carol", Role.DEVELOPER, Role.APPROVER)
    audrey = person(django_user_model, "audrey", Role.AUDITOR)
    pat = person(django_user_model, "pat", Role.PORTAL_ADMIN)
    nora = person(django_user_model, "nora")

    elsewhere = made(alice, "waiting-elsewhere")  # waiting for a download in another browser
    downloaded = in_state(made(alice, "downloaded-key"), claimed_at=now, claimed_from="10.0.0.9", ciphertext=None)
    reported_early = in_state(made(alice, "reported-early"), reported_at=now, wiped_at=now, ciphertext=None)
    expired = in_state(made(alice, "expired-key"), expires_at=now - timedelta(hours=1), wiped_at=now, ciphertext=None)
    KeyPairRequest.objects.filter(pk=expired.pk).update(flagged_at=now, flag_reason=KeyPairRequest.FlagReason.EXPIRED)
    imported_record = made(alice, "imported-key")
    Delivery.objects.filter(request=imported_record).delete()
    KeyPairRequest.objects.filter(pk=imported_record.pk).update(kind=KeyPairRequest.Kind.IMPORT)
    assigned = made(alice, "assigned-key")  # found in BCC and given to Alice by a portal admin
    Delivery.objects.filter(request=assigned).delete()
    KeyPairRequest.objects.filter(pk=assigned.pk).update(kind=KeyPairRequest.Kind.ASSIGNED)
    failed = made(alice, "failed-key")
    KeyPairRequest.objects.filter(pk=failed.pk).update(
        status=KeyPairRequest.Status.FAILED, error_message="BCC refused: quota exceeded"
    )
    # Bound to an instance: the rotate page and the delete page's unbind-first form.
    bound = made(alice, "bound-key")
    bind(portal_on_sandbox, bound, "i-bound1")
    # Binding: one rule binds at once (team=build), one asks an approver (team=web).
    AccessRule.objects.create(
        name="build servers", sso_group="developers", region="bj", tag_key="team", tag_value="build"
    )
    linux_instances(portal_on_sandbox, "bj", ids=["i-build1"], tags={"team": "build"}, name="build-1")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"}, name="web-1")
    request = pending_request(alice, elsewhere, ["i-web1"])
    AccessRule.objects.filter(pk=request.rule_id).update(sso_group="developers")
    # The inventory: a key pair made behind the portal's back, found by the sync.
    imported("bj", "legacy-build-server", "made by a script in 2019")
    call_command("sync_bcc", stdout=StringIO(), stderr=StringIO())
    return {
        "people": {"alice": alice, "carol": carol, "audrey": audrey, "pat": pat, "nora": nora},
        "elsewhere": elsewhere,
        "downloaded": downloaded,
        "reported_early": reported_early,
        "expired": expired,
        "imported": imported_record,
        "assigned": assigned,
        "failed": failed,
        "bound": bound,
        "request": request,
    }


def sign_in_as(context, live_server, user) -> None:
    """The browser holds ``user``'s session, as after a sign-in (signing in through the form is tested elsewhere)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    context.clear_cookies()
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])


@pytest.mark.parametrize("locale", LOCALES)
def test_every_page_passes_axe_and_fits_the_window(world, browser_context, live_server, locale):
    # A context of its own, in the browser's language (``browser_context`` has none): made while
    # that fixture holds Playwright's loop registered.
    context = browser_context.browser.new_context(
        base_url=live_server.url, locale=locale, viewport=WINDOWS[0], accept_downloads=True
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        problems = walk(context.new_page(), context, live_server, world, locale[:2])
    finally:
        context.close()
    assert problems == [], f"{len(problems)} page(s) with problems:\n\n" + "\n\n".join(problems)


def at_both_widths(page, name: str, label: str, *, shot: bool) -> list[str]:
    """The page's problems at 1280 px and at 390 px (and a screenshot at each), back at 1280 px after."""
    problems = []
    for window in WINDOWS:
        page.set_viewport_size(window)
        problems.extend(page_problems(page, f"{name} at {window['width']} px"))
        if shot:
            screenshot(page, f"a11y-{label}-{window['width']}-{name}.png")
    page.set_viewport_size(WINDOWS[0])
    return problems


def walk(page, context, live_server, world, label: str) -> list[str]:
    problems: list[str] = []
    people = world["people"]

    def check(name: str, *, shot: bool = False) -> None:
        page.wait_for_load_state()
        problems.extend(at_both_widths(page, name, label, shot=shot))

    def visit(name: str, url: str, *, shot: bool = False, status: int | None = None) -> None:
        response = page.goto(url)
        if status is not None and response.status != status:
            problems.append(f"{name} ({url}): answered {response.status}, expected {status}")
        check(name, shot=shot)

    visit("sign-in", "/accounts/login/", shot=True)

    # Alice's own flow, in this browser.
    sign_in_as(context, live_server, people["alice"])
    visit("home", "/", shot=True)
    visit("create", "/keypairs/new", shot=True)
    page.locator("#id_name").fill("1bad name")
    page.locator("#create-button").click()
    check("create-errors", shot=True)
    page.locator("#id_name").fill("waiting-elsewhere")
    page.locator("#id_region").select_option("bj")
    page.locator("#create-button").click()
    page.locator("#namesake-warning").wait_for()
    check("create-namesake", shot=True)
    page.locator("#namesake-confirm").click()
    page.wait_for_url(KEYPAIR_PAGE)
    check("detail-waiting", shot=True)
    # The same page in a second tab: its download is refused once the first tab has it.
    other_tab = context.new_page()
    other_tab.goto(page.url)
    with page.expect_download():
        page.locator("#download-button").click()
    page.locator("#downloaded-note").wait_for()
    check("detail-downloaded", shot=True)
    with other_tab.expect_navigation():
        other_tab.locator("#download-button").click()
    problems.extend(at_both_widths(other_tab, "download-refused", label, shot=True))
    other_tab.close()
    page.locator("#report-button").click()
    page.locator("#report-confirm-form").wait_for()
    check("report-confirm", shot=True)
    page.locator("#report-confirm-button").click()
    page.locator("#reported-note").wait_for()
    check("detail-reported", shot=True)

    for state in ("elsewhere", "downloaded", "reported_early", "expired", "imported", "assigned", "failed", "bound"):
        visit(f"detail-{state}", f"/keypairs/{world[state].public_id}/")
    visit("list", "/keypairs/", shot=True)
    visit("import", "/keypairs/import", shot=True)
    page.locator("#import-button").click()
    check("import-errors", shot=True)
    visit("rename", f"/keypairs/{world['downloaded'].public_id}/edit", shot=True)
    visit("delete", f"/keypairs/{world['downloaded'].public_id}/delete", shot=True)
    visit("delete-bound", f"/keypairs/{world['bound'].public_id}/delete")
    visit("rotate", f"/keypairs/{world['bound'].public_id}/rotate", shot=True)
    visit("bind", f"/keypairs/{world['downloaded'].public_id}/bind/", shot=True)
    page.locator("#choose-i-build1").check()
    page.locator("#bind-button").click()
    page.locator("#outcome-i-build1").wait_for()
    check("bind-result", shot=True)
    visit("my-requests", "/access/my-requests/", shot=True)
    # A deletion, confirmed: the detail page of a deleted key pair.
    page.goto(f"/keypairs/{world['reported_early'].public_id}/delete")
    page.locator("#confirm-delete-button").click()
    page.locator("#deleted-note").wait_for()
    check("detail-deleted", shot=True)
    visit("404", f"/keypairs/{uuid.uuid4()}/", status=404)
    visit("no-access-approver", "/access/requests/", status=403)

    # Carol decides.
    sign_in_as(context, live_server, people["carol"])
    visit("approval-queue", "/access/requests/", shot=True)
    visit("access-request", f"/access/requests/{world['request'].public_id}/", shot=True)

    # Nora holds no role.
    sign_in_as(context, live_server, people["nora"])
    visit("no-access", "/", status=403, shot=True)

    # Audrey audits.
    sign_in_as(context, live_server, people["audrey"])
    event = AuditEvent.objects.filter(keypair_id=world["downloaded"].keypair_id).order_by("id").first()
    visit("admin-index-auditor", "/admin/", shot=True)
    visit("audit-log", "/admin/keypairs/auditevent/", shot=True)
    visit("timeline", f"/admin/keypairs/auditevent/?keypair_id__exact={world['downloaded'].keypair_id}")
    visit("audit-event", f"/admin/keypairs/auditevent/{event.pk}/change/", shot=True)
    visit("403", f"/admin/keypairs/flagged/{world['expired'].public_id}/delete/", status=403)

    # Pat runs the portal.
    sign_in_as(context, live_server, people["pat"])
    visit("admin-index", "/admin/", shot=True)
    visit("inventory", "/admin/keypairs/bccinventoryentry/", shot=True)
    entry = page.locator("#result_list tbody a").first.get_attribute("href")
    visit("inventory-entry", entry)
    visit("flagged", "/admin/keypairs/flagged/", shot=True)

    # Signed out, from the portal's own menu.
    sign_in_as(context, live_server, people["alice"])
    page.goto("/")
    page.locator("form[action='/accounts/logout/'] button").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    check("signed-out", shot=True)
    return problems
