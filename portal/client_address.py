"""Where a request really came from: the one place that decides a client's address.

Views, audit rows and log lines (gunicorn's access line included) all ask here, never
``REMOTE_ADDR`` directly, so that the answer behind a load balancer is the same everywhere.

The threat
----------
``X-Forwarded-For`` is written by whoever sends the request: a client can send
``X-Forwarded-For: 10.1.2.3`` and, if believed, have "downloaded from 10.1.2.3" written in
the audit log. A proxy *appends* the address it received the connection from, so only the
entries added by proxies we run can be believed, and they are at the right-hand end.

The rule (``TRUSTED_PROXIES``, addresses or CIDR ranges, empty by default)
-------------------------------------------------------------------------
- The peer (``REMOTE_ADDR``) is not a trusted proxy: the peer is the client; the header is
  ignored, whatever it says.
- The peer is a trusted proxy: walk the header from the right, skipping trusted proxies;
  the first address that is not one is the client (the right-most untrusted address).
  Everything left of it was written by the client or by proxies we do not run, and is never
  read. If every address is a trusted proxy, the left-most is the client.
- A malformed entry (not an address) stops the walk: the client is the last good address
  read before it, or the peer when the right-most entry is already malformed. Nothing left
  of garbage is believed, and a trusted proxy never writes garbage itself.
- Only the last ``MAX_FORWARDED_FOR_CHARACTERS`` characters are read (an entry cut in two is
  dropped): the walk never needs more than the hops we run, so an oversized header costs
  nothing, and padding it cannot push the real client out of the part that is read.
- Entries may be IPv4 (``192.0.2.1``), IPv6 (``2001:db8::1``), either with a port
  (``192.0.2.1:443``, ``[2001:db8::1]:443``, as some balancers write them), or bracketed
  IPv6 (``[2001:db8::1]``). An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``, what a
  dual-stack socket reports) is the IPv4 address, for matching and in the answer. IPv6 zone
  ids (``fe80::1%eth0``) are malformed: they mean nothing outside the host that wrote them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARDED_FOR_META = "HTTP_X_FORWARDED_FOR"
# A few dozen hops at the longest IPv6 spelling; no real chain of proxies comes near it.
MAX_FORWARDED_FOR_CHARACTERS = 2048

TRUSTED_PROXY_INVALID = (
    "TRUSTED_PROXIES: {entry!r} is not an IP address or a CIDR range (for example 10.0.0.5, "
    "10.0.0.0/8 or 2001:db8::/32); see README.md, 'Configuration'."
)
TRUSTED_PROXY_HOST_BITS = (
    "TRUSTED_PROXIES: {entry!r} has bits set after the prefix length; did you mean {network}? "
    "See README.md, 'Configuration'."
)


def parse_trusted_proxies(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The networks ``entries`` name (a bare address is a network of one).

    Raises ValueError with a sentence naming the variable and the bad entry: an entry that
    silently matched nothing (or, with host bits ignored, too much) would be found only when
    an audit row names the wrong address.
    """
    networks = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=True)
        except ValueError:
            try:
                loose = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(TRUSTED_PROXY_INVALID.format(entry=entry)) from None
            raise ValueError(TRUSTED_PROXY_HOST_BITS.format(entry=entry, network=loose)) from None
        networks.append(_unmapped_network(network))
    return tuple(networks)


def client_address(request: HttpRequest) -> str | None:
    """The address of the client that sent ``request`` (see the module docstring)."""
    from django.conf import settings

    return client_address_from(
        peer=request.META.get("REMOTE_ADDR"),
        forwarded_for=request.META.get(FORWARDED_FOR_META),
        trusted=trusted_networks(tuple(settings.TRUSTED_PROXIES)),
    )


def client_address_from(*, peer: str | None, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]) -> str | None:
    """The rule itself, on plain values, for the access log and for tests."""
    peer_address = parse_address(peer or "")
    if peer_address is None:
        return None
    if not forwarded_for or not _is_trusted(peer_address, trusted):
        return str(peer_address)
    client = peer_address
    for address in _addresses_from_the_right(forwarded_for):
        if address is None:  # malformed: nothing further left is believed
            break
        client = address
        if not _is_trusted(address, trusted):
            break
    return str(client)


def parse_address(text: str) -> IPAddress | None:
    """One address as a proxy may write it, or None; IPv4-mapped IPv6 becomes IPv4."""
    text = text.strip()
    if text.startswith("["):  # [v6] or [v6]:port
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not _is_port(rest)):
            return None
        text = host
    elif text.count(":") == 1:  # v4:port (a bare v6 address has at least two colons)
        text, _, port = text.partition(":")
        if not _is_port(":" + port):
            return None
    if "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _addresses_from_the_right(forwarded_for: str):
    tail = forwarded_for[-MAX_FORWARDED_FOR_CHARACTERS:]
    entries = tail.split(",")
    if len(tail) < len(forwarded_for):
        entries = entries[1:]  # the left-most piece may be an address cut in two
    for entry in reversed(entries):
        yield parse_address(entry)


def _is_port(text: str) -> bool:
    digits = text[1:]
    return text.startswith(":") and digits.isascii() and digits.isdigit() and len(digits) <= 5 and int(digits) <= 65535


def _is_trusted(address: IPAddress, trusted: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def _unmapped_network(network: IPNetwork) -> IPNetwork:
    # ::ffff:10.0.0.0/104 is 10.0.0.0/8: addresses are unmapped before they are matched.
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped and network.prefixlen >= 96:
        return ipaddress.IPv4Network((network.network_address.ipv4_mapped, network.prefixlen - 96))
    return network


@lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """``TRUSTED_PROXIES`` parsed, once per value (settings.py checked it at start-up)."""
    return parse_trusted_proxies(entries)
