"""An auditor in Chromium: signs in, lands on the audit review, reads it at 1280 px, follows a timeline.

The list must fit a 1280 px window without cutting off the key pair name, id or BCC request
id (static/css/audit-review.css lets them wrap), and the admin's "View site" link must lead
back to the review rather than to a refusal.
"""

from __future__ import annotations

import re

import pytest

from keypairs.audit import audit_record
from portal.auth.roles import Role, assign_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"
LAPTOP = {"width": 1280, "height": 800}
# As long as the columns allow, with no place where a browser would break a line by itself.
LONG_NAME = "webserverproductionfrontend" * 2 + "x" * 11  # 65 characters
LONG_ID = "k-" + "Zq7" * 20
LONG_REQUEST_ID = "6f1c2a9e3b7d4c1e9a2f0e5d4c3b2a19" * 2
REVIEW_PATH = re.compile(r"/admin/keypairs/auditevent/$")


@pytest.fixture
def auditor(django_user_model):
    user = django_user_model.objects.create_user(username="audrey", password=PASSWORD)
    assign_roles(user, {Role.AUDITOR})
    return user


def record(**fields):
    return audit_record(**{"action": "created", "outcome": "success", "actor_username": "alice", **fields})


def test_an_auditor_lands_on_the_review_and_reads_it_at_1280_px(page, browser_log, auditor):
    record(keypair_name=LONG_NAME, keypair_id=LONG_ID, bcc_request_id=LONG_REQUEST_ID, region="bj")
    record(action="download_refused", outcome="denied", actor_username="bob", keypair_name=LONG_NAME,
           keypair_id=LONG_ID, is_security_event=True, region="bj")  # fmt: skip
    page.set_viewport_size(LAPTOP)

    page.goto("/accounts/login/")
    page.get_by_label("User name").fill(auditor.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(REVIEW_PATH)

    assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
    # The admin puts the table in a box that scrolls sideways: nothing may hide in it either.
    assert page.locator("#changelist .results").evaluate("box => box.scrollWidth <= box.clientWidth")
    for value in (LONG_NAME, LONG_ID, LONG_REQUEST_ID):
        cell = page.locator("#result_list td", has_text=value).first
        assert cell.is_visible()
        # Whole, not cut off: the cell shows all of its text (it wraps instead of overflowing).
        assert cell.evaluate("element => element.scrollWidth <= element.clientWidth")
        box = cell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= LAPTOP["width"]
    assert page.locator(".audit-badge-security").count() == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page.locator("#result_list .field-when").first.inner_text()
    )

    page.get_by_role("link", name="View site").click()
    page.wait_for_url(REVIEW_PATH)

    page.locator("td.field-keypair_id_timeline a").first.click()
    page.wait_for_url(re.compile(r"keypair_id__exact="))
    assert page.locator("#result_list tbody tr").count() == 2

    assert browser_log.csp_violations == []
    assert browser_log.console_errors == []
    assert browser_log.failed_subresources == []
