"""Every URL of the portal and of the admin, for every kind of person: who gets what.

The people: Alice and Bob are developers (Alice owns a key pair whose private key waits for
download), an auditor, a portal admin, someone anonymous, a superuser without any role and a
superuser with the developer role. Each row is one URL and
method; each cell the status code that person must get. Bob holds Alice's download cookie
too (as if he had stolen it) and still never gets her key. A test checks that the table
names every URL the project routes, so that a new view cannot go unlisted.

The two superusers are break-glass accounts: the flag alone grants no developer action (403 on
every key pair page); one who also holds the developer role is a developer like Bob (and gets
404, not Alice's key, with her cookie).

Reading the admin columns: developers are not staff, so the admin sends them to its sign-in
(302), which refuses them (403, admin_sign_in's row); auditors see the audit log and the BCC inventory;
portal admins see every record, view only, and alone (with superusers) assign or delete an
unowned key pair from the BCC inventory; superusers see every record too and alone manage
accounts and groups; nobody adds, changes or deletes an audit event, a create attempt or an
inventory entry through the admin's forms (403).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLResolver, get_resolver

from keypairs.audit import audit_record
from keypairs.delivery import delivery_create
from keypairs.models import (
    AccessRule,
    AuditEvent,
    BccInventoryEntry,
    Delivery,
    InstanceBinding,
    KeyPairRequest,
)
from keypairs.views import DOWNLOAD_COOKIE
from portal.auth.roles import GROUP_NAMES, Role
from tests.access_world import pending_request
from tests.auth_people import person
from tests.people import signed_in

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgO\n-----END RSA PRIVATE KEY-----\n"
PEOPLE = ("alice", "bob", "auditor", "portal_admin", "anonymous", "superuser", "superuser_developer")
# Alice acts last, so that her download (which erases the key) comes after everyone else's try.
ORDER = ("anonymous", "auditor", "portal_admin", "superuser", "superuser_developer", "bob", "alice")

D = (200, 200, 403, 403, 302, 403, 200)  # a developer's page
STAFF_ONLY = (302, 302, 403, 403, 302, 403, 403)  # refused to every role (add, change, delete)
AUDIT_LOG = (302, 302, 200, 200, 302, 200, 200)  # auditors and portal admins
ADMIN_RECORDS = (302, 302, 403, 200, 302, 200, 200)  # portal admins only
ADMIN_PAGE = (302, 302, 200, 200, 302, 200, 200)  # any staff
# Managing accounts and groups: superusers only, the break-glass job (an empty POST shows the form again: 200).
ACCOUNTS = (302, 302, 403, 403, 302, 200, 200)
# Assigning or deleting an unowned key pair from the BCC inventory: portal admins (and superusers), not auditors.
INVENTORY_ACTION = (302, 302, 403, 200, 302, 200, 200)

# (route name, method, URL with {keypair} {event} {entry} {user} {group} {content_type}, codes in PEOPLE order)
ROWS = [
    # The portal
    # Reviewers are sent on to the audit review (the admin's "View site" leads here).
    ("home", "get", "/", (200, 200, 302, 302, 302, 302, 200)),
    ("health", "get", "/healthz", (200, 200, 200, 200, 200, 200, 200)),
    ("keypair_list", "get", "/keypairs/", D),
    ("keypair_create", "get", "/keypairs/new", D),
    ("keypair_create", "post", "/keypairs/new", (400, 400, 403, 403, 302, 403, 400)),
    ("keypair_import", "get", "/keypairs/import", D),
    ("keypair_import", "post", "/keypairs/import", (400, 400, 403, 403, 302, 403, 400)),
    ("keypair_import_preview", "post", "/keypairs/import/preview", (400, 400, 403, 403, 302, 403, 400)),
    ("keypair_import_preview", "get", "/keypairs/import/preview", (405, 405, 403, 403, 302, 403, 405)),
    ("keypair_detail", "get", "/keypairs/{keypair}/", (200, 404, 403, 403, 302, 403, 404)),
    ("keypair_download", "post", "/keypairs/{keypair}/download", (200, 404, 403, 403, 302, 403, 404)),
    ("keypair_report", "post", "/keypairs/{keypair}/report", (200, 404, 403, 403, 302, 403, 404)),  # asks first
    ("keypair_delete", "get", "/keypairs/{keypair}/delete", (200, 404, 403, 403, 302, 403, 404)),
    # Alice's key pair is not in the sandbox: her delete records it gone (302 to its page).
    ("keypair_delete", "post", "/keypairs/{keypair}/delete", (302, 404, 403, 403, 302, 403, 404)),
    ("keypair_change", "get", "/keypairs/{keypair}/edit", (200, 404, 403, 403, 302, 403, 404)),
    # An empty form: Alice is told the name is required (400); nobody else learns the key pair exists.
    ("keypair_change", "post", "/keypairs/{keypair}/edit", (400, 404, 403, 403, 302, 403, 404)),
    ("keypair_rotate", "get", "/keypairs/{keypair}/rotate", (200, 404, 403, 403, 302, 403, 404)),
    # No key pair chosen to replace it: Alice is told to choose one (400); nobody else learns it exists.
    ("keypair_rotate", "post", "/keypairs/{keypair}/rotate", (400, 404, 403, 403, 302, 403, 404)),
    # The bind page: Alice's key pair is not in the sandbox (no instances listed); an empty POST chooses none (400).
    ("keypair_bind", "get", "/keypairs/{keypair}/bind/", (200, 404, 403, 403, 302, 403, 404)),
    ("keypair_bind", "post", "/keypairs/{keypair}/bind/", (400, 404, 403, 403, 302, 403, 404)),
    ("keypair_unbind_instance", "get", "/keypairs/{keypair}/unbind/", (405, 405, 403, 403, 302, 403, 405)),
    ("keypair_unbind_instance", "post", "/keypairs/{keypair}/unbind/", (400, 404, 403, 403, 302, 403, 404)),
    ("login", "get", "/accounts/login/", (302, 302, 302, 302, 200, 302, 302)),
    ("logout", "post", "/accounts/logout/", (302, 302, 302, 302, 302, 302, 302)),
    ("no_access", "get", "/accounts/no-access/", (403, 403, 403, 403, 403, 403, 403)),
    # The language switch and the scripts' sentences: for anyone, signed in or not (the sign-in page
    # has the switch too); an empty POST names no language the portal has (400, nothing changes).
    ("switch_language", "post", "/language/", (400, 400, 400, 400, 400, 400, 400)),
    ("switch_language", "get", "/language/", (405, 405, 405, 405, 405, 405, 405)),
    ("javascript-catalog", "get", "/jsi18n/", (200, 200, 200, 200, 200, 200, 200)),
    ("oidc_authentication_init", "get", "/oidc/authenticate/", (404, 404, 404, 404, 404, 404, 404)),
    ("oidc_authentication_callback", "get", "/oidc/callback/?code=c&state=s", (404, 404, 404, 404, 404, 404, 404)),
    # Access requests (keypairs/views_access.py): the queue and decisions are for approvers,
    # and nobody here is one (tests/test_access_pages.py has the approvers' rows); Alice sees
    # her own request read-only, anyone else gets a 404 as if it did not exist.
    ("access_request_queue", "get", "/access/requests/", (403, 403, 403, 403, 302, 403, 403)),
    ("access_request_detail", "get", "/access/requests/{access}/", (200, 404, 404, 404, 302, 404, 404)),
    ("access_request_approve", "post", "/access/requests/{access}/approve", (403, 403, 403, 403, 302, 403, 403)),
    ("access_request_deny", "post", "/access/requests/{access}/deny", (403, 403, 403, 403, 302, 403, 403)),
    (
        "access_request_retry_bind",
        "post",
        "/access/requests/{access}/retry-bind",
        (403, 403, 403, 403, 302, 403, 403),
    ),
    ("my_access_requests", "get", "/access/my-requests/", D),
    # The admin's own pages
    ("admin_sign_in", "get", "/admin/login/", (403, 403, 302, 302, 302, 302, 302)),
    ("admin:index", "get", "/admin/", ADMIN_PAGE),
    ("admin:logout", "post", "/admin/logout/", (302, 302, 302, 302, 302, 302, 302)),
    ("admin:password_change", "get", "/admin/password_change/", ADMIN_PAGE),
    ("admin:password_change_done", "get", "/admin/password_change/done/", ADMIN_PAGE),
    ("admin:autocomplete", "get", "/admin/autocomplete/", (302, 302, 403, 403, 302, 403, 403)),
    ("admin:jsi18n", "get", "/admin/jsi18n/", ADMIN_PAGE),
    ("admin:view_on_site", "get", "/admin/r/{content_type}/{event}/", (302, 302, 404, 404, 302, 404, 404)),
    ("admin:app_list", "get", "/admin/keypairs/", ADMIN_PAGE),
    ("admin:app_list", "get", "/admin/auth/", (302, 302, 404, 200, 302, 200, 200)),
    # The audit log
    ("admin:keypairs_auditevent_changelist", "get", "/admin/keypairs/auditevent/", AUDIT_LOG),
    ("admin:keypairs_auditevent_change", "get", "/admin/keypairs/auditevent/{event}/change/", AUDIT_LOG),
    ("admin:keypairs_auditevent_change", "post", "/admin/keypairs/auditevent/{event}/change/", STAFF_ONLY),
    ("admin:keypairs_auditevent_history", "get", "/admin/keypairs/auditevent/{event}/history/", AUDIT_LOG),
    ("admin:keypairs_auditevent_add", "get", "/admin/keypairs/auditevent/add/", STAFF_ONLY),
    ("admin:keypairs_auditevent_add", "post", "/admin/keypairs/auditevent/add/", STAFF_ONLY),
    ("admin:keypairs_auditevent_delete", "get", "/admin/keypairs/auditevent/{event}/delete/", STAFF_ONLY),
    ("admin:keypairs_auditevent_delete", "post", "/admin/keypairs/auditevent/{event}/delete/", STAFF_ONLY),
    ("admin:keypairs_auditevent_export", "post", "/admin/keypairs/auditevent/export/", AUDIT_LOG),
    (
        "admin:keypairs_auditevent_export",
        "get",
        "/admin/keypairs/auditevent/export/",
        (302, 302, 405, 405, 302, 405, 405),
    ),
    ("admin:keypairs_auditevent_acknowledge", "post", "/admin/keypairs/auditevent/acknowledge/", (302,) * 7),
    (
        "admin:keypairs_auditevent_acknowledge",
        "get",
        "/admin/keypairs/auditevent/acknowledge/",
        (302, 302, 405, 405, 302, 405, 405),
    ),
    (
        "admin:keypairs_auditevent_verify",
        "post",
        "/admin/keypairs/auditevent/verify/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    (
        "admin:keypairs_auditevent_verify",
        "get",
        "/admin/keypairs/auditevent/verify/",
        (302, 302, 405, 405, 302, 405, 405),
    ),
    # Key pairs of people who left, and flagged key pairs (keypairs/admin_flagged.py): auditors see,
    # portal admins and superusers decide, on key pairs the page lists (Alice's is not: 404).
    ("admin:keypairs_flagged", "get", "/admin/keypairs/flagged/", AUDIT_LOG),
    (
        "admin:keypairs_flagged_decide",
        "get",
        "/admin/keypairs/flagged/{keypair}/keep/",
        (302, 302, 403, 404, 302, 404, 404),
    ),
    (
        "admin:keypairs_flagged_decide",
        "post",
        "/admin/keypairs/flagged/{keypair}/delete/",
        (302, 302, 403, 404, 302, 404, 404),
    ),
    # Bindings that could not be removed (keypairs/admin_bindings.py): auditors and portal admins view.
    ("admin:keypairs_stuck_bindings", "get", "/admin/keypairs/stuck-bindings/", AUDIT_LOG),
    # Create attempts
    ("admin:keypairs_keypairrequest_changelist", "get", "/admin/keypairs/keypairrequest/", ADMIN_RECORDS),
    ("admin:keypairs_keypairrequest_change", "get", "/admin/keypairs/keypairrequest/{request}/change/", ADMIN_RECORDS),
    ("admin:keypairs_keypairrequest_change", "post", "/admin/keypairs/keypairrequest/{request}/change/", STAFF_ONLY),
    (
        "admin:keypairs_keypairrequest_history",
        "get",
        "/admin/keypairs/keypairrequest/{request}/history/",
        ADMIN_RECORDS,
    ),
    ("admin:keypairs_keypairrequest_add", "get", "/admin/keypairs/keypairrequest/add/", STAFF_ONLY),
    ("admin:keypairs_keypairrequest_delete", "post", "/admin/keypairs/keypairrequest/{request}/delete/", STAFF_ONLY),
    # The BCC inventory: auditors and portal admins see it; portal admins alone assign or delete
    # (an empty POST shows the confirmation page), and no form ever changes an entry.
    ("admin:keypairs_bccinventoryentry_changelist", "get", "/admin/keypairs/bccinventoryentry/", AUDIT_LOG),
    ("admin:keypairs_bccinventoryentry_change", "get", "/admin/keypairs/bccinventoryentry/{entry}/change/", AUDIT_LOG),
    (
        "admin:keypairs_bccinventoryentry_change",
        "post",
        "/admin/keypairs/bccinventoryentry/{entry}/change/",
        STAFF_ONLY,
    ),
    (
        "admin:keypairs_bccinventoryentry_history",
        "get",
        "/admin/keypairs/bccinventoryentry/{entry}/history/",
        AUDIT_LOG,
    ),
    ("admin:keypairs_bccinventoryentry_add", "get", "/admin/keypairs/bccinventoryentry/add/", STAFF_ONLY),
    (
        "admin:keypairs_bccinventoryentry_delete",
        "post",
        "/admin/keypairs/bccinventoryentry/{entry}/delete/",
        STAFF_ONLY,
    ),
    (
        "admin:keypairs_bccinventoryentry_assign",
        "post",
        "/admin/keypairs/bccinventoryentry/{entry}/assign/",
        INVENTORY_ACTION,
    ),
    (
        "admin:keypairs_bccinventoryentry_assign",
        "get",
        "/admin/keypairs/bccinventoryentry/{entry}/assign/",
        (302, 302, 405, 405, 302, 405, 405),
    ),
    (
        "admin:keypairs_bccinventoryentry_delete_unowned",
        "post",
        "/admin/keypairs/bccinventoryentry/{entry}/delete-unowned/",
        INVENTORY_ACTION,
    ),
    (
        "admin:keypairs_bccinventoryentry_delete_unowned",
        "get",
        "/admin/keypairs/bccinventoryentry/{entry}/delete-unowned/",
        (302, 302, 405, 405, 302, 405, 405),
    ),
    # Access to instances (keypairs/admin_access.py): portal admins manage the rules (an empty form is
    # shown again with its errors, an empty delete POST asks again: 200), auditors read them; the
    # bindings and access requests are read only to both.
    ("admin:keypairs_accessrule_changelist", "get", "/admin/keypairs/accessrule/", AUDIT_LOG),
    ("admin:keypairs_accessrule_change", "get", "/admin/keypairs/accessrule/{rule}/change/", AUDIT_LOG),
    ("admin:keypairs_accessrule_change", "post", "/admin/keypairs/accessrule/{rule}/change/", INVENTORY_ACTION),
    ("admin:keypairs_accessrule_history", "get", "/admin/keypairs/accessrule/{rule}/history/", AUDIT_LOG),
    ("admin:keypairs_accessrule_add", "get", "/admin/keypairs/accessrule/add/", INVENTORY_ACTION),
    ("admin:keypairs_accessrule_add", "post", "/admin/keypairs/accessrule/add/", INVENTORY_ACTION),
    ("admin:keypairs_accessrule_delete", "get", "/admin/keypairs/accessrule/{rule}/delete/", INVENTORY_ACTION),
    ("admin:keypairs_accessrule_delete", "post", "/admin/keypairs/accessrule/{rule}/delete/", INVENTORY_ACTION),
    ("admin:keypairs_instancebinding_changelist", "get", "/admin/keypairs/instancebinding/", AUDIT_LOG),
    ("admin:keypairs_instancebinding_change", "get", "/admin/keypairs/instancebinding/{binding}/change/", AUDIT_LOG),
    ("admin:keypairs_instancebinding_change", "post", "/admin/keypairs/instancebinding/{binding}/change/", STAFF_ONLY),
    ("admin:keypairs_instancebinding_history", "get", "/admin/keypairs/instancebinding/{binding}/history/", AUDIT_LOG),
    ("admin:keypairs_instancebinding_add", "get", "/admin/keypairs/instancebinding/add/", STAFF_ONLY),
    ("admin:keypairs_instancebinding_delete", "post", "/admin/keypairs/instancebinding/{binding}/delete/", STAFF_ONLY),
    ("admin:keypairs_accessrequest_changelist", "get", "/admin/keypairs/accessrequest/", AUDIT_LOG),
    ("admin:keypairs_accessrequest_change", "get", "/admin/keypairs/accessrequest/{access_pk}/change/", AUDIT_LOG),
    ("admin:keypairs_accessrequest_change", "post", "/admin/keypairs/accessrequest/{access_pk}/change/", STAFF_ONLY),
    ("admin:keypairs_accessrequest_history", "get", "/admin/keypairs/accessrequest/{access_pk}/history/", AUDIT_LOG),
    ("admin:keypairs_accessrequest_add", "get", "/admin/keypairs/accessrequest/add/", STAFF_ONLY),
    ("admin:keypairs_accessrequest_delete", "post", "/admin/keypairs/accessrequest/{access_pk}/delete/", STAFF_ONLY),
    # Users and groups
    ("admin:auth_user_changelist", "get", "/admin/auth/user/", ADMIN_RECORDS),
    ("admin:auth_user_change", "get", "/admin/auth/user/{user}/change/", ADMIN_RECORDS),
    ("admin:auth_user_change", "post", "/admin/auth/user/{user}/change/", ACCOUNTS),
    ("admin:auth_user_history", "get", "/admin/auth/user/{user}/history/", ADMIN_RECORDS),
    ("admin:auth_user_add", "get", "/admin/auth/user/add/", ACCOUNTS),
    ("admin:auth_user_delete", "post", "/admin/auth/user/{user}/delete/", ACCOUNTS),
    ("admin:auth_user_password_change", "get", "/admin/auth/user/{user}/password/", ACCOUNTS),
    ("admin:auth_group_changelist", "get", "/admin/auth/group/", ADMIN_RECORDS),
    ("admin:auth_group_change", "get", "/admin/auth/group/{group}/change/", ADMIN_RECORDS),
    ("admin:auth_group_change", "post", "/admin/auth/group/{group}/change/", ACCOUNTS),
    ("admin:auth_group_history", "get", "/admin/auth/group/{group}/history/", ADMIN_RECORDS),
    ("admin:auth_group_add", "get", "/admin/auth/group/add/", ACCOUNTS),
    ("admin:auth_group_delete", "post", "/admin/auth/group/{group}/delete/", ACCOUNTS),
]
# Routed, but answered by another row's view: the portal's admin_sign_in comes first in the URLs.
SHADOWED = {"admin:login"}


@dataclass
class World:
    clients: dict[str, Client]
    ids: dict[str, object]
    keypair_request: KeyPairRequest


@pytest.fixture
def world(alice, bob, portal_on_sandbox) -> World:
    keypair_request = KeyPairRequest.objects.create(
        owner=alice,
        form_token_hash=uuid.uuid4().hex,
        client_token=uuid.uuid4().hex,
        region="bj",
        name="build-server",
        status=KeyPairRequest.Status.CREATED,
        keypair_id="k-y7VWq123",
    )
    _, token = delivery_create(keypair_request=keypair_request, private_key_pem=PEM)
    clients = {
        "alice": signed_in(alice),
        "bob": signed_in(bob),
        "auditor": signed_in(person("audrey", Role.AUDITOR)),
        "portal_admin": signed_in(person("pat", Role.PORTAL_ADMIN)),
        "anonymous": Client(),
        # Break-glass accounts: the flag alone grants no developer action; with the role, a developer like Bob.
        "superuser": signed_in(person("root", superuser=True)),
        "superuser_developer": signed_in(person("rooted-dev", Role.DEVELOPER, superuser=True)),
    }
    # Bob got hold of Alice's download cookie: it must not help him, nor a superuser.
    for name in ("alice", "bob", "superuser", "superuser_developer"):
        clients[name].cookies[DOWNLOAD_COOKIE] = token
    event = audit_record(action="created", outcome="success", actor=alice, keypair_name="build-server")
    entry = BccInventoryEntry.objects.create(region="bj", keypair_id="k-stray0001", name="stray")
    rule = AccessRule.objects.create(name="web", sso_group="developers", region="bj", tag_key="team")
    binding = InstanceBinding.objects.create(keypair_request=keypair_request, region="bj", instance_id="i-web1")
    access = pending_request(alice, keypair_request, ["i-web1"])
    ids = {
        "keypair": keypair_request.public_id,
        "request": keypair_request.pk,
        "event": event.pk,
        "entry": entry.pk,
        "rule": rule.pk,
        "binding": binding.pk,
        "access_pk": access.pk,
        "user": alice.pk,
        "group": Group.objects.get(name=GROUP_NAMES[Role.DEVELOPER]).pk,
        "content_type": ContentType.objects.get_for_model(AuditEvent).pk,
        "access": access.public_id,
    }
    return World(clients=clients, ids=ids, keypair_request=keypair_request)


FORMS = {
    "/keypairs/new": {"name": " web", "description": "", "region": "bj", "form_token": "t" * 43},
    "/keypairs/import": {"name": " web", "description": "", "region": "bj", "form_token": "t" * 43},
}


@pytest.mark.parametrize(("name", "method", "url", "expected"), ROWS, ids=[f"{m} {u}" for _, m, u, _ in ROWS])
def test_each_person_gets_what_their_role_allows(world, name, method, url, expected):
    url = url.format(**world.ids)
    got = {}
    for who in ORDER:
        response = getattr(world.clients[who], method)(url, FORMS.get(url, {}))
        got[who] = response.status_code
        if name == "keypair_download":
            assert (b"PRIVATE KEY" in response.content) == (who == "alice"), who

    assert got == dict(zip(PEOPLE, expected, strict=True))


def test_bob_never_gets_alices_key_even_with_her_cookie(world):
    response = world.clients["bob"].post(f"/keypairs/{world.ids['keypair']}/download")

    assert response.status_code == 404
    assert b"PRIVATE KEY" not in response.content
    assert Delivery.objects.get(request=world.keypair_request).ciphertext is not None
    refused = AuditEvent.objects.filter(action="download_refused").latest()
    assert (refused.actor_username, refused.is_security_event) == ("bob", True)


def test_developers_are_sent_from_the_admin_to_a_refusal_not_to_a_password_form(world):
    response = world.clients["alice"].get("/admin/", follow=True)

    assert response.redirect_chain == [("/admin/login/?next=/admin/", 302)]
    assert response.status_code == 403
    assert b'name="password"' not in response.content


def test_the_table_names_every_url_of_the_portal_and_the_admin():
    def names(resolver, namespace=""):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
                yield from names(pattern, inner)
            elif pattern.name:
                yield namespace + pattern.name

    assert set(names(get_resolver())) == {name for name, _, _, _ in ROWS} | SHADOWED


def test_a_superuser_without_the_developer_role_is_not_offered_the_key_pair_pages(world):
    response = world.clients["superuser"].get("/keypairs/")

    assert response.status_code == 403
    assert b"developer role" in response.content
    assert b'href="/keypairs/new"' not in response.content
    assert world.clients["superuser_developer"].get("/keypairs/").status_code == 200
