"""``manage.py bcc_sandbox``: serve the BCC sandbox in the foreground, for people.

It prints the endpoint and the keys it accepts, and how to point the portal at it. The
keys are the sandbox's own throwaway keys (random unless ``BCC_SANDBOX_ACCESS_KEY_ID``
and ``BCC_SANDBOX_SECRET_ACCESS_KEY`` are set), never real BCC keys, which is why
printing them is fine. It listens on loopback unless ``--allow-remote`` is given: the
sandbox accepts anyone holding keys it just printed to a terminal.

Every region starts with a few plausible instances to bind key pairs to (the built-in
set), or with those of ``--instances FILE`` (format: ``keypairs/sandbox/seed.py``).
"""

from __future__ import annotations

import ipaddress
import os
import signal

from django.core.management.base import BaseCommand, CommandError

from keypairs.sandbox import SandboxServer
from keypairs.sandbox.seed import InstanceSeed

ACCESS_KEY_ENV = "BCC_SANDBOX_ACCESS_KEY_ID"
SECRET_KEY_ENV = "BCC_SANDBOX_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name


class Command(BaseCommand):
    help = "Serve the BCC sandbox (a local stand-in for BCC's key pair API) until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8900, help="Port to listen on (default 8900; 0 = any free).")
        parser.add_argument("--quota", type=int, default=500, help="Key pairs per access key and region (500).")
        parser.add_argument("--tls", action="store_true", help="Serve HTTPS with a throwaway self-signed certificate.")
        parser.add_argument("--allow-remote", action="store_true", help="Allow listening on a non-loopback address.")
        parser.add_argument(
            "--instances",
            metavar="FILE",
            help="JSON file of the instances each region starts with (default: a built-in set in every region).",
        )

    def handle(self, *args, host, port, quota, tls, allow_remote, instances, **options):
        if not allow_remote and not _is_loopback(host):
            raise CommandError(f"{host} is not a loopback address; pass --allow-remote to listen on it anyway.")
        if quota < 1:
            raise CommandError("--quota must be at least 1.")
        seed = _seed(instances)
        server = SandboxServer(
            host=host, port=port, credentials=_credentials_from_environment(), quota=quota, tls=tls, seed=seed
        )
        # `kill` (SIGTERM) stops as cleanly as Ctrl-C: the TLS key is removed either way.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        try:  # from here on, Ctrl-C (even during the announcement) ends in a clean stop
            self._announce(server)
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
            self.stdout.write("BCC sandbox stopped.")

    def _announce(self, server: SandboxServer) -> None:
        lines = [
            f"BCC sandbox listening on {server.url}",
            f"  endpoint template:  {server.endpoint_template}   (region from the path; {server.url} alone is bj)",
            f"  access key id:      {server.access_key_id}",
            f"  secret access key:  {server.secret_access_key}",
            f"  (the sandbox's own throwaway keys; set {ACCESS_KEY_ENV} and {SECRET_KEY_ENV} to choose them)",
        ]
        if server.cert_path:
            lines.append(f"  TLS certificate:    {server.cert_path}   (self-signed: trust it explicitly)")
        lines += [
            "",
            "Point the portal at it:",
            f"  BCC_ENDPOINT='{server.endpoint_template}' BCC_ACCESS_KEY_ID={server.access_key_id} "
            f"BCC_SECRET_ACCESS_KEY={server.secret_access_key}"
            + (f" BCC_CA_BUNDLE={server.cert_path}" if server.cert_path else "")
            + " make run",
            "",
            "Press Ctrl-C to stop.",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()


def _seed(path: str | None) -> InstanceSeed:
    if path is None:
        return InstanceSeed.built_in()
    try:
        return InstanceSeed.from_file(path)
    except OSError as error:
        raise CommandError(f"Cannot read the instance file {path}: {error.strerror}.") from None
    except ValueError as error:
        raise CommandError(f"The instance file {path} is not usable: {error}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _credentials_from_environment() -> dict[str, str] | None:
    access_key_id = os.environ.get(ACCESS_KEY_ENV, "")
    secret_access_key = os.environ.get(SECRET_KEY_ENV, "")
    if bool(access_key_id) != bool(secret_access_key):
        raise CommandError(f"Set both {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}, or neither (random keys).")
    return {access_key_id: secret_access_key} if access_key_id else None


def _exit_on_signal(signum, frame):
    raise SystemExit(0)
