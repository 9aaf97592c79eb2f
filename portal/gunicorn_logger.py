"""gunicorn's access line names the same client as the audit log (portal/client_address.py).

gunicorn's ``%(h)s`` is the peer (``REMOTE_ADDR``): behind a load balancer, the balancer on
every line. gunicorn's ``FORWARDED_ALLOW_IPS`` only decides whose ``X-Forwarded-Proto`` it
believes; it never rewrites the peer. This logger puts the portal's answer, from
``TRUSTED_PROXIES``, in ``h`` instead, so an access line and an audit row of one request
name one address.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from portal.client_address import FORWARDED_FOR_META, client_address_from, trusted_networks


class ClientAddressLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["h"] = (
            client_address_from(
                peer=environ.get("REMOTE_ADDR"),
                forwarded_for=environ.get(FORWARDED_FOR_META),
                trusted=_trusted_proxies(),
            )
            or "-"
        )
        return atoms


def _trusted_proxies():
    # The worker has loaded Django's settings before it serves a request; until then (a line
    # the master writes) nothing is trusted and the peer is shown, as gunicorn would.
    from django.conf import settings

    if not settings.configured:
        return ()
    return trusted_networks(tuple(settings.TRUSTED_PROXIES))
