"""The hostile-input battery: hundreds of names and descriptions, each through the real create view.

Every value of tests/hostile_inputs.py (boundaries, Unicode look-alikes, bidi and zero-width
characters, HTML and SQL fragments, very long strings, empty and whitespace-only), and a few
hundred more from hypothesis, is submitted by a signed-in Alice exactly as a browser would send
it (URL-encoded UTF-8; a lone surrogate, which a browser cannot send, arrives as Django decodes
it, replaced). Each one must end one of two ways:

- refused: HTTP 400 with a message at the field, no call to BCC at all, and nothing changed
  (no KeyPairRequest, no audit row);
- accepted, and only when BCC's own rules (the sandbox's ``keypairs.sandbox.rules``) accept it:
  the key pair is created in BCC under exactly that name.

One client and one warm quota count serve the whole battery, and the form's one-time token is
made fresh for each submission (the view checks its shape, and only an accepted create uses it).
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.sandbox import rules
from keypairs.sandbox.errors import SandboxError
from tests.create_flow import CREATE_URL, open_form
from tests.hostile_inputs import (
    ALLOWED_CHARACTERS,
    ANY_TEXT,
    HOSTILE_DESCRIPTIONS,
    HOSTILE_NAMES,
)

VALID_NAME = "battery"
# Text made mostly of what the rules allow, so that hypothesis also finds values to accept and
# the length limits (65 and 140) from both sides.
MOSTLY_ALLOWED = st.text(alphabet=st.sampled_from(ALLOWED_CHARACTERS + "Aa"), min_size=0, max_size=150)
_FIELD_ERRORS = re.compile(r'<ul class="errorlist" id="id_(name|description)_error">(.*?)</ul>', re.S)


def as_django_reads_it(value: str) -> str:
    """What the view receives for ``value`` sent URL-encoded as UTF-8 (lone surrogates become U+FFFD)."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def bcc_accepts(*, name: str, description: str) -> bool:
    try:
        rules.check_name(name)
        rules.check_description(description)
    except SandboxError:
        return False
    return True


class Battery:
    """Submits values through the create view and checks each outcome as it comes."""

    def __init__(self, client, sandbox) -> None:
        self.client = client
        self.sandbox = sandbox
        open_form(client)  # counts the shared quota once; every later page uses the cached count
        self.bcc_requests = len(sandbox.request_log)
        self.accepted: list[str] = []
        self.submitted = 0

    def submit(self, *, name: str = VALID_NAME, description: str = "", field: str) -> None:
        fields = {"name": name, "description": description, "region": "bj", "form_token": secrets.token_urlsafe(32)}
        # Many submits share VALID_NAME: go on past the "you already have one of this name" warning
        # (tests/test_duplicate_names.py), as a person may; this battery is about what BCC accepts.
        fields["duplicate_confirmed"] = "1"
        body = "&".join(
            f"{key}={quote_from_bytes(value.encode('utf-8', 'surrogatepass'))}" for key, value in fields.items()
        )
        requests_before, events_before = KeyPairRequest.objects.count(), AuditEvent.objects.count()

        response = self.client.post(CREATE_URL, body, content_type="application/x-www-form-urlencoded")

        self.submitted += 1
        received = {"name": as_django_reads_it(name), "description": as_django_reads_it(description)}
        shown = f"{field}={(name if field == 'name' else description)[:40]!r}"
        if bcc_accepts(**received):
            assert response.status_code == 302, f"BCC accepts {shown}, the portal refused it"
            created = KeyPairRequest.objects.latest("pk")
            assert (created.name, created.description) == (received["name"], received["description"])
            assert created.status == KeyPairRequest.Status.CREATED
            self.accepted.append(received["name"])
            self.bcc_requests += 1  # its create
            return
        assert response.status_code == 400, f"BCC refuses {shown}, the portal answered {response.status_code}"
        page = response.content.decode()
        messages = dict(_FIELD_ERRORS.findall(page))
        assert field in messages, f"no message at the {field} field for {shown}"
        assert re.search(r"<li>\S", messages[field]), f"an empty message for {shown}"
        if "<" in received[field] and ">" in received[field]:
            assert received[field] not in page, f"{shown} is on the page unescaped"
        assert KeyPairRequest.objects.count() == requests_before, f"{shown} left a request behind"
        assert AuditEvent.objects.count() == events_before, f"{shown} left an audit row behind"
        assert len(self.sandbox.request_log) == self.bcc_requests, f"{shown} reached BCC"

    def assert_bcc_holds_what_was_accepted(self) -> None:
        assert sorted(keypair["name"] for keypair in self.sandbox.keypairs()) == sorted(self.accepted)


@pytest.fixture
def battery(alice_client, portal_on_sandbox, settings) -> Battery:
    # Hundreds of creates by one person: the portal's own limits are not what this battery tests.
    settings.KEYPAIR_CREATE_RATE_LIMIT = 0
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 0
    settings.BCC_QUOTA_CACHE_SECONDS = 3600
    return Battery(alice_client, portal_on_sandbox)


def test_every_curated_hostile_name_is_refused_with_a_message_or_accepted_as_bcc_would(battery):
    for entry in HOSTILE_NAMES:
        battery.submit(name=entry.value, field="name")

    assert battery.submitted == len(HOSTILE_NAMES) >= 190
    assert battery.accepted, "no curated name was accepted: the battery proves only half of its rule"
    battery.assert_bcc_holds_what_was_accepted()


def test_every_curated_hostile_description_is_refused_with_a_message_or_accepted_as_bcc_would(battery):
    for entry in HOSTILE_DESCRIPTIONS:
        battery.submit(description=entry.value, field="description")

    assert battery.submitted == len(HOSTILE_DESCRIPTIONS) >= 190
    assert battery.accepted
    battery.assert_bcc_holds_what_was_accepted()


_GENERATED = hypothesis_settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_GENERATED
@given(name=st.one_of(ANY_TEXT, MOSTLY_ALLOWED))
def test_any_generated_name_is_refused_with_a_message_or_accepted_as_bcc_would(battery, name):
    battery.submit(name=name, field="name")
    battery.assert_bcc_holds_what_was_accepted()


@_GENERATED
@given(description=st.one_of(ANY_TEXT, MOSTLY_ALLOWED))
def test_any_generated_description_is_refused_with_a_message_or_accepted_as_bcc_would(battery, description):
    battery.submit(description=description, field="description")
    battery.assert_bcc_holds_what_was_accepted()
