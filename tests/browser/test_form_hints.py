"""The create form's live hints and double-submit guard (static/js/keypair-form.js) in Chromium.

The form is rendered by KeyPairCreateForm into a blank page with the script added as the
template does, so each check is about the script alone; the full flow through the portal is
in test_create_and_download.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from keypairs import validation
from keypairs.forms import KeyPairCreateForm
from tests.hostile_inputs import HOSTILE_DESCRIPTIONS, HOSTILE_NAMES

pytestmark = pytest.mark.browser

SCRIPT = Path(settings.BASE_DIR) / "static" / "js" / "keypair-form.js"
TOKEN = "0123456789abcdefABCDEF-_0123456789abcdefABC"


def submit(**fields) -> KeyPairCreateForm:
    data = {"name": "keypair01", "description": "", "region": settings.BCC_DEFAULT_REGION, "form_token": TOKEN}
    data.update(fields)
    return KeyPairCreateForm(data={key: value for key, value in data.items() if value is not None})


@pytest.fixture
def open_form(blank_context):
    """Show a form in a page with the script loaded as the template will; returns the page."""

    def open_form(form: KeyPairCreateForm | None = None, *, script: bool = True):
        page = blank_context.new_page()
        form = form or KeyPairCreateForm(initial={"form_token": TOKEN})
        # The form posts into a frame so that the page itself stays inspectable while a
        # request is held unanswered; the guard behaves the same with or without a target.
        page.set_content(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"></head><body>'
            f'<form method="post" action="https://portal.test/keypairs/new" target="result">{form}'
            '<button type="submit">Create key pair</button></form><iframe name="result"></iframe></body></html>'
        )
        if script:
            page.add_script_tag(path=str(SCRIPT))
        return page

    return open_form


def as_the_script_says_it(message: str) -> str:
    """The script names a non-ASCII character by code point only; the server adds its name."""
    return re.sub(r"(U\+[0-9A-F]{4,6}) [A-Z0-9][A-Z0-9 \-]*[A-Z0-9]", r"\1", message)


def test_the_hint_shows_the_first_broken_rule_as_the_user_types(open_form):
    page = open_form()
    page.locator("#id_name").press_sequentially("1 ab")

    assert page.locator("#id_name_hint").text_content() == validation.NAME_MUST_START_WITH_LETTER
    assert page.locator("#id_name_count").text_content() == "4 / 65"
    assert page.locator("#id_name").get_attribute("aria-invalid") == "true"
    assert page.locator("#id_name_hint").get_attribute("aria-live") == "polite"

    page.locator("#id_name").fill("ab<c")
    assert page.locator("#id_name_hint").text_content() == "The name may not contain '<'."

    page.locator("#id_name").fill("a中文")
    assert page.locator("#id_name_hint").text_content() == ""
    assert page.locator("#id_name_count").text_content() == "3 / 65"
    assert page.locator("#id_name").get_attribute("aria-invalid") is None


def test_an_empty_name_is_not_flagged_before_the_user_has_been_in_it(open_form):
    page = open_form()

    assert page.locator("#id_name_hint").text_content() == ""
    assert page.locator("#id_name_count").text_content() == "0 / 65"
    page.locator("#id_name").focus()
    page.locator("#id_description").focus()
    assert page.locator("#id_name_hint").text_content() == "Enter a name."


def test_the_servers_messages_are_not_said_twice_until_the_user_edits_the_field(open_form):
    page = open_form(submit(name="1bad name"))
    server_list = page.locator("#id_name_error")
    hint = page.locator("#id_name_hint")

    # Each message once: the server's list (every broken rule), and no hint repeating its first.
    assert server_list.is_visible()
    assert server_list.locator("li").first.text_content() == validation.NAME_MUST_START_WITH_LETTER
    assert hint.text_content() == ""
    assert page.get_by_text(validation.NAME_MUST_START_WITH_LETTER, exact=True).filter(visible=True).count() == 1
    assert page.locator("#id_name").get_attribute("aria-invalid") == "true"
    # The value sent back is checked at once, without a keystroke: the browser refuses to
    # send it unchanged again, with the server's sentence.
    message = page.locator("#id_name").evaluate("input => input.validationMessage")
    assert message == validation.NAME_MUST_START_WITH_LETTER

    page.locator("#id_name").press("End")
    page.locator("#id_name").press_sequentially("!")

    # The list described the value as it was sent: once edited, the live hint speaks instead.
    assert not server_list.is_visible()
    assert hint.text_content() == validation.NAME_MUST_START_WITH_LETTER
    assert page.get_by_text(validation.NAME_MUST_START_WITH_LETTER, exact=True).filter(visible=True).count() == 1


def test_a_long_paste_is_kept_and_flagged_instead_of_cut_short(open_form):
    page = open_form()
    page.locator("#id_name").focus()
    page.keyboard.insert_text("a" * 70)

    assert page.locator("#id_name").input_value() == "a" * 70
    assert page.locator("#id_name_hint").text_content() == "The name can be 65 characters at most; it has 70."
    assert page.locator("#id_name_count").text_content() == "70 / 65"
    assert "is-over" in page.locator("#id_name_count").get_attribute("class")


def test_without_the_script_the_browser_still_caps_the_length(open_form):
    page = open_form(script=False)
    page.locator("#id_name").focus()
    page.keyboard.insert_text("a" * 70)

    assert page.locator("#id_name").input_value() == "a" * 65


def test_the_browser_blocks_a_submit_with_the_servers_message(open_form):
    page = open_form()
    requests = []
    page.route("https://portal.test/**", lambda route: (requests.append(route.request), route.abort()))
    page.locator("#id_name").fill("key pair")
    page.locator("button").click()

    assert page.locator("#id_name").evaluate("input => input.validationMessage") == (
        "The name may not contain ' ' (space)."
    )
    assert requests == []


def test_a_double_click_sends_one_request_and_disables_the_button(open_form):
    page = open_form()
    pending = []
    page.route("https://portal.test/**", lambda route: pending.append(route))  # unanswered: a slow server
    page.locator("#id_name").fill("keypair01")
    page.locator("button").dblclick()
    page.wait_for_timeout(300)
    page.evaluate("document.querySelector('form').requestSubmit()")
    page.wait_for_timeout(300)

    assert len(pending) == 1
    assert "name=keypair01" in pending[0].request.post_data
    assert page.locator("button").is_disabled()
    for route in pending:
        route.fulfill(body="created")


def test_the_hints_say_what_the_server_says_for_every_hostile_input(open_form):
    page = open_form()
    cases = [
        (field, entry.value)
        for field, entries in (("name", HOSTILE_NAMES), ("description", HOSTILE_DESCRIPTIONS))
        for entry in entries
        if not re.search("[\ud800-\udfff]", entry.value)  # cannot be sent to a page
    ]
    results = page.evaluate(
        """cases => cases.map(([field, value]) => {
            const input = document.getElementById("id_" + field);
            input.value = value;
            input.dispatchEvent(new Event("input"));
            return [input.value, document.getElementById(input.dataset.hintId).textContent,
                    input.validationMessage];
        })""",
        cases,
    )
    problems = {"name": validation.name_problems, "description": validation.description_problems}
    for (field, _), (kept, hint, validation_message) in zip(cases, results, strict=True):
        # A text input drops line breaks from a value set by script; compare on what it kept.
        expected = problems[field](kept)
        first = as_the_script_says_it(expected[0]) if expected else ""
        assert (hint, validation_message) == (first, first), (field, kept[:80])


def test_the_html_pattern_decides_like_the_server_in_a_real_browser(open_form):
    page = open_form(script=False)
    cases = [
        (field, entry.value)
        for field, entries in (("name", HOSTILE_NAMES), ("description", HOSTILE_DESCRIPTIONS))
        for entry in entries
        if not re.search("[\ud800-\udfff\r\n]", entry.value) and len(entry.value) < 1000
    ]
    mismatches = page.evaluate(
        """cases => cases.map(([field, value]) => {
            const input = document.getElementById("id_" + field);
            input.value = value;
            return input.validity.patternMismatch;
        })""",
        cases,
    )
    problems = {"name": validation.name_problems, "description": validation.description_problems}
    for (field, value), mismatch in zip(cases, mismatches, strict=True):
        # The browser leaves an empty value to `required`; the pattern judges the rest.
        server_rejects = bool(problems[field](value)) and value != ""
        assert mismatch == server_rejects, (field, value[:80])
