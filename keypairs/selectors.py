"""Reads for the pages: a user sees only the key pair requests they made."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404

from keypairs.list_filters import PAGE_SIZE, state_condition
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
    try:
        # get(), not first(): public_id is unique, and first() would order and compile an ORDER BY
        # for one row (a fifth of this query's cost, on every page of a key pair).
        return keypair_requests_of(user=user).get(public_id=public_id)
    except KeyPairRequest.DoesNotExist:
        raise Http404("No such key pair request.") from None


def keypairs_live_in_bcc_of(*, user) -> list[KeyPairRequest]:
    """The user's key pairs the portal believes BCC holds: what the list compares with BCC (one query)."""
    return list(
        KeyPairRequest.objects.filter(owner=user, status=KeyPairRequest.Status.CREATED)
        .exclude(keypair_id="")
        .only("pk", "owner_id", "status", "region", "keypair_id", "name", "description", "created_at", "completed_at")
    )


def keypair_live_named(*, user, name: str, region: str) -> KeyPairRequest | None:
    """The user's newest key pair of this name in this region that the portal believes BCC holds.

    BCC allows two key pairs of one name; the create and import forms warn before making a second.
    """
    return (
        KeyPairRequest.objects.filter(owner=user, status=KeyPairRequest.Status.CREATED, name=name, region=region)
        .order_by("-created_at")
        .only("pk", "public_id", "name", "region", "created_at")
        .first()
    )


def keypair_list_page(*, user, filters: Mapping[str, str], page_number: str | int | None) -> Page:
    """One page of the user's key pairs, newest first, searched and filtered: two queries (count, rows).

    ``filters``: ``q`` (name contains, any case), ``region``, ``state`` (``list_filters.ListState``).
    A page number out of range gives the last page, as Django's ``get_page`` does.
    """
    found = keypair_requests_of(user=user)
    if filters.get("q"):
        found = found.filter(name__icontains=filters["q"])
    if filters.get("region"):
        found = found.filter(region=filters["region"])
    if filters.get("state"):
        found = found.filter(state_condition(filters["state"]))
    return Paginator(found, PAGE_SIZE).get_page(page_number)


def keypair_holders(*, region: str, keypair_ids: set[str]) -> dict[str, KeyPairRequest]:
    """The portal's live records of these BCC key pairs, with their owners, by key pair id: one query.

    For the bind page, which names whose key pair each instance holds; an id with no record here
    was made outside the portal. Only owner and name are read: nothing else of another person's
    key pair leaves the database.
    """
    if not keypair_ids:
        return {}
    records = (
        KeyPairRequest.objects.filter(
            region=region, keypair_id__in=sorted(keypair_ids), status=KeyPairRequest.Status.CREATED
        )
        .select_related("owner")
        .only("keypair_id", "name", "owner_id", "owner__username")
    )
    return {record.keypair_id: record for record in records}
