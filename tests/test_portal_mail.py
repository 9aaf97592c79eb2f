"""Mail from the portal (keypairs.mail) through a real SMTP server on loopback."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Group, User

from keypairs.mail import portal_admin_addresses, send_portal_mail
from portal.auth.roles import GROUP_NAMES, Role


@pytest.fixture
def test_templates(settings, tmp_path):
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "hello_subject.txt").write_text("Hello\n  {{ name }}\n")
    (tmp_path / "mail" / "hello_body.txt").write_text("Dear {{ name }}, see {{ portal_url }}/keypairs/\n")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    settings.PORTAL_BASE_URL = "https://keys.example.com"


def test_a_mail_arrives_with_its_subject_on_one_line_and_the_portal_link(db, smtp_server, test_templates):
    assert send_portal_mail(to=["alice@example.com"], template="hello", context={"name": "Alice"})

    [mail] = smtp_server.mails_to("alice@example.com")
    assert mail.subject == "Hello Alice"
    assert "Dear Alice, see https://keys.example.com/keypairs/" in mail.body


def test_what_a_mail_quotes_arrives_as_written_not_html_escaped(db, smtp_server, test_templates):
    # Mail is plain text: a note "don't break <main>" must not arrive as "don&#x27;t break &lt;main&gt;".
    assert send_portal_mail(to=["alice@example.com"], template="hello", context={"name": "O'Brien & <Co>"})

    [mail] = smtp_server.mails_to("alice@example.com")
    assert mail.subject == "Hello O'Brien & <Co>"
    assert "Dear O'Brien & <Co>, see" in mail.body


def test_a_refused_mail_is_logged_and_reported_false_not_raised(db, smtp_server, test_templates, caplog):
    smtp_server.refuse = True
    with caplog.at_level(logging.ERROR, logger="keypairs.mail"):
        assert not send_portal_mail(to=["alice@example.com"], template="hello", context={"name": "Alice"})
    assert "not delivered" in caplog.text
    assert smtp_server.received == []


def test_nobody_to_mail_sends_nothing(db, smtp_server, test_templates):
    assert not send_portal_mail(to=["", ""], template="hello", context={"name": "x"})
    assert smtp_server.received == []


def test_the_admins_summary_goes_to_active_portal_admins_with_an_address(db):
    admins = Group.objects.get_or_create(name=GROUP_NAMES[Role.PORTAL_ADMIN])[0]
    for username, email, active in (
        ("ann", "ann@example.com", True),
        ("old", "old@example.com", False),
        ("nomail", "", True),
    ):
        User.objects.create_user(username, email=email, is_active=active).groups.add(admins)
    User.objects.create_user("dev", email="dev@example.com")

    assert portal_admin_addresses() == ["ann@example.com"]
