"""Where a request really came from (portal/client_address.py, TRUSTED_PROXIES).

The production layout puts gunicorn behind a load balancer (10.0.0.2 here) that appends the
address it received each connection from to X-Forwarded-For. The client's own address must
reach the audit log and the download record; an X-Forwarded-For sent by anyone but a
trusted proxy must change nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.urls import reverse

from keypairs.models import AuditEvent, Delivery
from portal.auth.roles import Role
from portal.client_address import (
    MAX_FORWARDED_FOR_CHARACTERS,
    TRUSTED_PROXY_INVALID,
    client_address,
    parse_trusted_proxies,
)
from tests.auth_people import PASSWORD, person
from tests.create_flow import create, the_request

ROOT = Path(__file__).resolve().parent.parent
BALANCER = "10.0.0.2"
INNER_PROXY = "10.0.5.7"
CLIENT = "203.0.113.9"
ATTACKER_CLAIM = "198.51.100.66"


def address_of(*, peer: str = BALANCER, forwarded_for: str | None = None) -> str | None:
    meta = {"REMOTE_ADDR": peer}
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client_address(RequestFactory().get("/", **meta))


@pytest.fixture
def behind_the_balancer(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/16"]


# --- The rule ------------------------------------------------------------------------------


def test_a_direct_client_is_its_peer_address(settings):
    assert settings.TRUSTED_PROXIES == []
    assert address_of(peer=CLIENT) == CLIENT


def test_with_no_trusted_proxies_the_header_is_never_read(settings):
    assert address_of(peer=BALANCER, forwarded_for=CLIENT) == BALANCER


@pytest.mark.usefixtures("behind_the_balancer")
def test_a_spoofed_header_from_an_untrusted_peer_changes_nothing():
    assert address_of(peer=CLIENT, forwarded_for=ATTACKER_CLAIM) == CLIENT
    assert address_of(peer=CLIENT, forwarded_for=f"{ATTACKER_CLAIM}, {BALANCER}") == CLIENT


@pytest.mark.usefixtures("behind_the_balancer")
def test_one_trusted_hop_gives_the_address_it_received_from():
    assert address_of(forwarded_for=CLIENT) == CLIENT


@pytest.mark.usefixtures("behind_the_balancer")
def test_two_trusted_hops_give_the_address_the_outer_one_received_from():
    assert address_of(forwarded_for=f"{CLIENT}, {INNER_PROXY}") == CLIENT


@pytest.mark.usefixtures("behind_the_balancer")
def test_what_the_client_wrote_left_of_its_own_address_is_ignored():
    assert address_of(forwarded_for=f"{ATTACKER_CLAIM}, {CLIENT}, {INNER_PROXY}") == CLIENT
    assert address_of(forwarded_for=f"{ATTACKER_CLAIM},{CLIENT}") == CLIENT


@pytest.mark.usefixtures("behind_the_balancer")
def test_two_header_lines_joined_by_the_server_read_as_one_list():
    # gunicorn and Django join repeated X-Forwarded-For lines with a comma.
    assert address_of(forwarded_for=f"{ATTACKER_CLAIM},{CLIENT}") == CLIENT


@pytest.mark.usefixtures("behind_the_balancer")
def test_when_every_address_is_a_trusted_proxy_the_left_most_is_the_client():
    assert address_of(forwarded_for=f"{INNER_PROXY}, 10.0.9.9") == INNER_PROXY


@pytest.mark.usefixtures("behind_the_balancer")
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("not-an-address", BALANCER, id="only-garbage"),
        pytest.param("", BALANCER, id="empty"),
        pytest.param(f"{CLIENT}, unknown", BALANCER, id="garbage-right-most"),
        pytest.param(f"{CLIENT},", BALANCER, id="trailing-comma"),
        pytest.param(f"{CLIENT}, garbage, {INNER_PROXY}", INNER_PROXY, id="garbage-behind-a-trusted-hop"),
        pytest.param(f"garbage, {CLIENT}", CLIENT, id="garbage-left-of-the-client"),
        pytest.param("999.1.1.1", BALANCER, id="octet-out-of-range"),
        pytest.param("fe80::1%eth0", BALANCER, id="ipv6-zone-id"),
        pytest.param("203.0.113.9:99999", BALANCER, id="port-out-of-range"),
        pytest.param("[2001:db8::1", BALANCER, id="unclosed-bracket"),
    ],
)
def test_a_malformed_entry_stops_the_walk_at_the_last_good_address(header, expected):
    assert address_of(forwarded_for=header) == expected


@pytest.mark.usefixtures("behind_the_balancer")
def test_an_oversized_header_is_read_from_its_right_hand_end_only():
    padding = ", ".join(f"192.0.2.{n % 250}" for n in range(5000))
    header = f"{padding}, {CLIENT}"
    assert len(header) > 10 * MAX_FORWARDED_FOR_CHARACTERS

    assert address_of(forwarded_for=header) == CLIENT
    # A header of trusted hops only, cut: an address cut in two at the cut is never used.
    hops = ", ".join(["10.0.123.45"] * 1000)
    assert address_of(forwarded_for=hops) == "10.0.123.45"


@pytest.mark.parametrize(
    ("trusted", "peer", "header", "expected"),
    [
        pytest.param(["2001:db8:1::/48"], "2001:db8:1::2", "2001:db8:ffff::9", "2001:db8:ffff::9", id="v6-hops"),
        pytest.param(["2001:db8:1::/48"], "2001:db8:1::2", "[2001:db8:ffff::9]", "2001:db8:ffff::9", id="brackets"),
        pytest.param(["2001:db8:1::/48"], "2001:db8:1::2", "[2001:db8:ffff::9]:443", "2001:db8:ffff::9", id="port"),
        pytest.param(["2001:db8:1::/48"], "2001:db8:1::2", "2001:DB8:FFFF:0::9", "2001:db8:ffff::9", id="one-spelling"),
        pytest.param(["10.0.0.0/16"], "::ffff:10.0.0.2", CLIENT, CLIENT, id="v4-mapped-peer"),
        pytest.param(["10.0.0.0/16"], BALANCER, f"::ffff:{CLIENT}", CLIENT, id="v4-mapped-client"),
        pytest.param(["::ffff:10.0.0.0/112"], BALANCER, CLIENT, CLIENT, id="v4-mapped-range"),
        pytest.param(["10.0.0.0/16"], BALANCER, f"{CLIENT}:51234", CLIENT, id="v4-with-port"),
        pytest.param(["10.0.0.0/16"], "2001:db8:1::2", CLIENT, "2001:db8:1::2", id="v6-peer-not-trusted"),
    ],
)
def test_ipv6_and_ipv4_mapped_addresses(settings, trusted, peer, header, expected):
    settings.TRUSTED_PROXIES = trusted
    assert address_of(peer=peer, forwarded_for=header) == expected


# --- The setting ---------------------------------------------------------------------------


def test_the_setting_takes_addresses_and_ranges():
    networks = parse_trusted_proxies(["10.0.0.2", " 10.1.0.0/16 ", "2001:db8::/32", ""])
    assert [str(network) for network in networks] == ["10.0.0.2/32", "10.1.0.0/16", "2001:db8::/32"]


@pytest.mark.parametrize("entry", ["load-balancer.internal", "10.0.0.0/33", "10.0.0.300"])
def test_a_bad_entry_is_named(entry):
    with pytest.raises(ValueError) as raised:
        parse_trusted_proxies(["10.0.0.2", entry])
    assert str(raised.value) == TRUSTED_PROXY_INVALID.format(entry=entry)


def test_the_portal_refuses_to_start_with_a_bad_entry_and_names_the_variable():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "true",
            "TRUSTED_PROXIES": "10.0.0.0/8,10.0.0.1/24",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "TRUSTED_PROXIES: '10.0.0.1/24' has bits set after the prefix length; did you mean 10.0.0.0/24?" in (
        result.stderr
    )


# --- Through the portal ------------------------------------------------------------------------


@pytest.mark.usefixtures("behind_the_balancer")
def test_behind_the_balancer_the_audit_row_names_the_client(client, db):
    person("dana", Role.DEVELOPER)

    response = client.post(
        "/accounts/login/",
        {"username": "dana", "password": PASSWORD},
        REMOTE_ADDR=BALANCER,
        HTTP_X_FORWARDED_FOR=f"{ATTACKER_CLAIM}, {CLIENT}",
    )

    assert response.status_code == 302
    signed_in = AuditEvent.objects.get(action="signed_in")
    assert signed_in.source_ip == CLIENT


@pytest.mark.usefixtures("behind_the_balancer")
def test_a_spoofed_header_sent_straight_to_the_portal_is_not_what_the_audit_says(client, db):
    person("dana", Role.DEVELOPER)

    response = client.post(
        "/accounts/login/",
        {"username": "dana", "password": PASSWORD},
        REMOTE_ADDR=CLIENT,
        HTTP_X_FORWARDED_FOR=ATTACKER_CLAIM,
    )

    assert response.status_code == 302
    assert AuditEvent.objects.get(action="signed_in").source_ip == CLIENT


@pytest.mark.usefixtures("behind_the_balancer")
def test_the_download_records_the_client_behind_the_balancer(alice_client, portal_on_sandbox):
    alice_client.defaults.update(REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR=CLIENT)
    created = create(alice_client)
    assert created.status_code == 302
    keypair_request = the_request()

    response = alice_client.post(reverse("keypair_download", kwargs={"public_id": keypair_request.public_id}))

    delivery = Delivery.objects.get()
    assert response.status_code == 200
    assert delivery.claimed_from == CLIENT
    assert {event.source_ip for event in AuditEvent.objects.all()} == {CLIENT}


# --- gunicorn's access line --------------------------------------------------------------------


def test_gunicorns_access_line_names_the_same_client_as_the_audit(tmp_path, sandbox):
    import json

    from django.conf import settings

    from tests.gunicorn_portal import GunicornPortal, PortalBrowser, migrate, production_environment

    environment = production_environment(
        database_url=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        sandbox=sandbox,
        secret_key=settings.SECRET_KEY,
        audit_hmac_key=settings.AUDIT_HMAC_KEY,
        TRUSTED_PROXIES="127.0.0.1",  # the test plays the load balancer, on loopback
    )
    migrate(environment)
    portal = GunicornPortal.start(environment, workers=1, threads=1)
    try:
        balancer = PortalBrowser(session_key="none")
        behind = balancer.request("GET", portal.url + "healthz", headers={"X-Forwarded-For": CLIENT})
        direct = balancer.request("GET", portal.url + "healthz")
    finally:
        portal.stop()

    assert (behind.status_code, direct.status_code) == (200, 200)
    access = {
        entry["request_id"]: entry
        for entry in (json.loads(line) for line in portal.lines)
        if entry["logger"] == "gunicorn.access"
    }
    assert access[behind.headers["X-Request-ID"]]["remote_addr"] == CLIENT
    assert access[direct.headers["X-Request-ID"]]["remote_addr"] == "127.0.0.1"
