"""The one-time success message on the page a create or an import lands on.

The key pair's page says what the key pair is now; this says what just happened, once, so that
a person who submitted the form knows it worked without reading the page for it.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext

from keypairs.models import KeyPairRequest
from keypairs.regions import region_label


def announce_result(request: HttpRequest, keypair_request: KeyPairRequest) -> None:
    """Say "created" or "imported" when the key pair exists in BCC; a form that ended otherwise
    (a replay of a failed attempt) lands on a page that already says how it ended."""
    if keypair_request.status != KeyPairRequest.Status.CREATED:
        return
    if keypair_request.kind == KeyPairRequest.Kind.IMPORT:
        sentence = gettext("Key pair {name} was imported in {region}.")
    else:
        sentence = gettext("Key pair {name} was created in {region}.")
    messages.success(request, sentence.format(name=keypair_request.name, region=region_label(keypair_request.region)))
