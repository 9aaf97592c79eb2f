"""A second key pair of the same name: BCC allows it, so the forms warn and let the person go on.

The create and import views ask ``unconfirmed_namesake`` before their service. When it finds
one, the form comes back with a warning and a "create anyway" button that sends
``duplicate_confirmed=1`` (a button, never an input that stays on the page, so a changed name
or region is checked again); nothing reaches BCC until then. The one-time form token is not spent
by the warning: that page carries a fresh token, as after any refused submit, so a replayed
first submit still finds no earlier attempt and a confirmed one is an ordinary first attempt.
A form submitted again with a token already spent (a double click, a reload) is never warned
about: the service answers it with the earlier attempt, as before.
"""

from __future__ import annotations

from collections.abc import Mapping

from keypairs import selectors
from keypairs.delivery_crypto import form_token_hash
from keypairs.models import KeyPairRequest

CONFIRM_FIELD = "duplicate_confirmed"


def unconfirmed_namesake(*, user, data: Mapping[str, object], posted: Mapping[str, str]) -> KeyPairRequest | None:
    """The person's live key pair of the submitted name and region (``data``: the form's cleaned
    data), unless they pressed the button that goes on anyway (in ``posted``, the raw POST)."""
    if posted.get(CONFIRM_FIELD) == "1":
        return None
    if KeyPairRequest.objects.filter(form_token_hash=form_token_hash(data["form_token"])).exists():
        return None  # a replay: its own key pair is the namesake, and the service lands on it
    return selectors.keypair_live_named(user=user, name=data["name"], region=data["region"])
