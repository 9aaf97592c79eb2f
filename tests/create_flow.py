"""Helpers for tests that go through the create form as a user does, and read what it left behind."""

from __future__ import annotations

import logging
import re
import socket

from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from keypairs.models import AuditEvent, KeyPairRequest

CREATE_URL = reverse("keypair_create")


def form_token_in(response) -> str:
    match = re.search(r'<input type="hidden" name="form_token" value="([^"]*)"', response.content.decode())
    assert match, "the create form has no form_token"
    return match.group(1)


def open_form(client: Client) -> str:
    """Open the create form (which also counts the shared quota in BCC) and return its one-time token."""
    response = client.get(CREATE_URL)
    assert response.status_code == 200
    return form_token_in(response)


def create(client: Client, *, name: str = "build-server", description: str = "", region: str = "bj", form_token=None):
    if form_token is None:
        form_token = open_form(client)
    return client.post(
        CREATE_URL, {"name": name, "description": description, "region": region, "form_token": form_token}
    )


def page_says(response, sentence: str) -> bool:
    return escape(str(sentence)) in response.content.decode()


def the_request() -> KeyPairRequest:
    (keypair_request,) = KeyPairRequest.objects.all()
    return keypair_request


def audit_trail() -> list[tuple[str, str]]:
    """(action, outcome) of every audit row, oldest first."""
    return list(AuditEvent.objects.order_by("id").values_list("action", "outcome"))


def sent_to_bcc(sandbox) -> list[str]:
    """The operations the portal sent BCC, leaving out the lists that count the shared quota for the form."""
    return [record.operation for record in sandbox.request_log if record.operation != "list"]


def log_lines(caplog, level: int = logging.ERROR) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= level]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
