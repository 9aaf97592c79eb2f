"""Which language a person reads: the browser's, their own choice (remembered), and their mails'."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from portal.auth.models import PersonLanguage
from portal.auth.roles import Role
from portal.languages import addresses_by_language, language_of
from tests.auth_people import PASSWORD, person
from tests.people import signed_in

pytestmark = pytest.mark.django_db

HOME = "/"


def kept_language(user) -> str:
    # Fresh from the database: a PersonLanguage created in this process is cached on the instance.
    return language_of(type(user).objects.get(pk=user.pk))


def test_a_browser_asking_for_chinese_gets_the_portal_in_chinese(alice_client):
    page = alice_client.get(HOME, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.8").content.decode()

    assert '<html lang="zh-hans">' in page
    assert "我的密钥对" in page and "My key pairs" not in page


def test_a_browser_asking_for_english_or_nothing_gets_english(alice_client):
    for header in ({"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}, {}):
        page = alice_client.get(HOME, **header).content.decode()
        assert '<html lang="en">' in page and "My key pairs" in page


def test_the_switch_names_the_other_language_in_that_language(alice_client):
    english = alice_client.get(HOME).content.decode()
    chinese = alice_client.get(HOME, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()

    assert 'name="language" value="zh-hans" lang="zh-hans" class="link">简体中文</button>' in english
    assert 'name="language" value="en" lang="en" class="link">English</button>' in chinese


def test_the_switch_goes_back_to_the_page_and_its_choice_outlasts_the_browsers_language(alice, alice_client):
    referer = "http://testserver" + reverse("keypair_list")
    switched = alice_client.post(reverse("switch_language"), {"language": "zh-hans"}, HTTP_REFERER=referer)

    assert switched.status_code == 302 and switched["Location"] == referer
    cookie = switched.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "zh-hans" and cookie["httponly"] and cookie["samesite"] == "Lax"
    # The choice beats a browser that asks for English.
    page = alice_client.get(HOME, HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert '<html lang="zh-hans">' in page
    # And is kept for the mails the portal sends this person.
    assert kept_language(alice) == "zh-hans"

    alice_client.post(reverse("switch_language"), {"language": "en"}, HTTP_REFERER=referer)
    assert kept_language(alice) == "en"
    assert '<html lang="en">' in alice_client.get(HOME, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()


def test_a_language_the_portal_does_not_have_changes_nothing(alice, alice_client):
    before = PersonLanguage.objects.get(user=alice).language  # kept at sign-in
    switched = alice_client.post(reverse("switch_language"), {"language": "fr"}, HTTP_REFERER="http://testserver/")

    # Django itself has French; the portal does not: refused with a sentence, no cookie, no change.
    assert switched.status_code == 400
    assert "This portal has no such language." in switched.content.decode()
    assert settings.LANGUAGE_COOKIE_NAME not in switched.cookies
    assert PersonLanguage.objects.get(user=alice).language == before


def test_the_switch_works_before_signing_in_and_keeps_nothing_about_anyone(db):
    visitor = Client()
    switched = visitor.post(
        reverse("switch_language"), {"language": "zh-hans"}, HTTP_REFERER="http://testserver/accounts/login/"
    )

    assert switched.status_code == 302 and switched["Location"] == "http://testserver/accounts/login/"
    assert '<html lang="zh-hans">' in visitor.get(reverse("login")).content.decode()
    assert not PersonLanguage.objects.exists()


def test_the_switch_is_a_post_with_a_csrf_token(alice):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)

    assert strict.get(reverse("switch_language")).status_code == 405
    assert strict.post(reverse("switch_language"), {"language": "zh-hans"}).status_code == 403


def test_signing_in_keeps_the_language_the_person_signed_in_with(db):
    erin = person("erin", Role.DEVELOPER)
    browser = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")

    browser.post(reverse("login"), {"username": "erin", "password": PASSWORD})

    assert kept_language(erin) == "zh-hans"


def test_mail_addresses_are_grouped_by_their_peoples_language(db, settings):
    settings.LANGUAGE_CODE = "en"
    reader = person("wang", Role.DEVELOPER)
    reader.email = "wang@example.com"
    reader.save()
    PersonLanguage.objects.create(user=reader, language="zh-hans")

    grouped = addresses_by_language(["wang@example.com", "nobody@example.com", "", "wang@example.com"])

    assert grouped == {"zh-hans": ["wang@example.com"], "en": ["nobody@example.com"]}
    settings.LANGUAGE_CODE = "zh-hans"
    assert addresses_by_language(["nobody@example.com"]) == {"zh-hans": ["nobody@example.com"]}


def test_a_language_code_the_portal_does_not_have_stops_the_start():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "true", "LANGUAGE_CODE": "fr"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "LANGUAGE_CODE must be one of en, zh-hans, not 'fr'." in result.stderr


def test_dates_follow_the_language_and_name_the_zone(alice_client):
    from datetime import UTC, datetime

    from django.utils import formats, translation

    moment = datetime(2026, 12, 3, 15, 4, tzinfo=UTC)
    with translation.override("en"):
        assert formats.date_format(moment, "DATETIME_FORMAT") == "3 Dec 2026, 15:04 UTC"
    with translation.override("zh-hans"):
        assert formats.date_format(moment, "DATETIME_FORMAT") == "2026年12月3日 15:04 UTC"


def test_the_scripts_sentences_are_served_to_anyone_and_cached_per_language(client):
    english = client.get(reverse("javascript-catalog"), HTTP_ACCEPT_LANGUAGE="en")
    chinese = client.get(reverse("javascript-catalog"), HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert english.status_code == chinese.status_code == 200
    assert english["Content-Type"].startswith("text/javascript")
    assert "max-age=86400" in chinese["Cache-Control"]
    assert english.content != chinese.content  # each language its own catalogue, not the first one cached


def test_the_admin_carries_the_portals_name_in_the_readers_language(db):
    auditor = signed_in(person("audrey", Role.AUDITOR))

    english = auditor.get(reverse("admin:index")).content.decode()
    chinese = auditor.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()

    assert "BCC key pair portal: administration" in english and "Django administration" not in english
    assert "BCC 密钥对门户：管理后台" in chinese and "Django 管理" not in chinese
