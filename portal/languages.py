"""The person's language: the switch in the page header, and the language their mails are written in.

A page's language is Django's: the switch's cookie, else the browser's ``Accept-Language``, else
``LANGUAGE_CODE`` (``django.middleware.locale.LocaleMiddleware``). A mail is sent outside any
request, so each person's language is kept (``PersonLanguage``): set when they use the switch
and when they sign in, and read by ``keypairs.mail`` to write each recipient's mail in it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from portal.auth.models import PersonLanguage


@login_not_required
@require_POST
def switch_language(request: HttpRequest) -> HttpResponse:
    """Django's ``set_language`` (cookie, then back to the page), remembered for mails when signed in.

    Only the portal's languages: Django's own check accepts any language Django has a catalogue for.
    """
    chosen = request.POST.get("language", "")
    if chosen not in dict(settings.LANGUAGES):
        return HttpResponseBadRequest(gettext("This portal has no such language."), content_type="text/plain")
    response = set_language(request)
    if request.user.is_authenticated:
        remember_language(request.user, chosen)
    return response


@receiver(user_logged_in, dispatch_uid="portal.languages.remember_at_sign_in")
def _remember_at_sign_in(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is not None:
        remember_language(user, translation.get_language_from_request(request))


def remember_language(user, language: str) -> None:
    """Keep ``language`` as ``user``'s (one query when it is already theirs)."""
    language = translation.get_supported_language_variant(language)
    if not PersonLanguage.objects.filter(user=user, language=language).exists():
        PersonLanguage.objects.update_or_create(user=user, defaults={"language": language})


def language_of(user) -> str:
    """``user``'s language for mail: theirs when kept, else ``LANGUAGE_CODE``.

    Free when the caller loaded it (``select_related("owner__language")``); one query otherwise.
    """
    try:
        return user.language.language
    except PersonLanguage.DoesNotExist:
        return settings.LANGUAGE_CODE


def addresses_by_language(addresses: Iterable[str]) -> dict[str, list[str]]:
    """``addresses`` grouped by the language of the person each belongs to, ``LANGUAGE_CODE`` when unknown.

    An address several accounts share takes the language of the most recently chosen one.
    """
    addresses = sorted({address for address in addresses if address})
    chosen: dict[str, str] = {}
    rows = (
        get_user_model()
        .objects.filter(email__in=addresses, language__isnull=False)
        .order_by("language__updated_at")
        .values_list("email", "language__language")
    )
    for address, language in rows:
        chosen[address] = language
    grouped: dict[str, list[str]] = defaultdict(list)
    for address in addresses:
        grouped[chosen.get(address, settings.LANGUAGE_CODE)].append(address)
    return dict(grouped)
