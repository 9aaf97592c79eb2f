"""Starts the built-in BCC sandbox inside gunicorn's master process for `make run`.

Why the master: gunicorn forks its workers after `on_starting`, and each worker reads its
settings from the environment. Starting one sandbox here, before the fork, and handing
its endpoint and keys to the workers through the ordinary BCC_* variables means every
worker talks to the same sandbox (one set of key pairs, one quota) and the portal code
cannot tell a sandbox from real BCC. Production never gets here: it needs DEBUG on and
no BCC credentials configured.
"""

from __future__ import annotations

import os

import environ


def wanted(environment: os._Environ | dict) -> bool:
    env = environ.Env()
    env.ENVIRON = environment
    return env.bool("DEBUG", default=False) and not environment.get("BCC_ACCESS_KEY_ID")


def start(environment: os._Environ | dict, *, port: int = 0):
    """Start a sandbox on loopback and point the BCC_* variables at it. Returns the server."""
    from keypairs.sandbox import SandboxServer
    from keypairs.sandbox.seed import InstanceSeed

    # A few plausible machines in every region, so key pairs can be bound from the start.
    server = SandboxServer(host="127.0.0.1", port=port, seed=InstanceSeed.built_in()).start()
    environment["BCC_ENDPOINT"] = server.endpoint_template
    environment["BCC_ACCESS_KEY_ID"] = server.access_key_id
    environment["BCC_SECRET_ACCESS_KEY"] = server.secret_access_key
    return server
