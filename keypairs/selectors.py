"""Reads for the pages: a user sees only the key pair requests they made."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from keypairs.models import KeyPairRequest


def keypair_requests_of(*, user) -> QuerySet[KeyPairRequest]:
    # defer(): the ciphertext never needs to leave the database for a listing.
    return (
        KeyPairRequest.objects.filter(owner=user)
        .select_related("delivery")
        .defer("delivery__ciphertext", "delivery__salt", "delivery__nonce", "delivery__token_hash")
        .order_by("-created_at")
    )


def keypair_request_of(*, user, public_id: uuid.UUID) -> KeyPairRequest:
    """The user's own request, or 404: another user's request does not exist for them."""
    found = keypair_requests_of(user=user).filter(public_id=public_id).first()
    if found is None:
        raise Http404("No such key pair request.")
    return found
