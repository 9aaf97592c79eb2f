"""Signing keys and a JWKS endpoint on loopback, for the tests that verify signed JWTs.

The proxy tests sign assertions as the identity-aware proxy would, with real RSA and EC keys
from ``cryptography``, and serve the public halves as a JSON Web Key Set over real HTTP on
127.0.0.1, the way the portal fetches them in production.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(private_key, *, kid: str, alg: str) -> dict:
    algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith(("RS", "PS")) else jwt.algorithms.ECAlgorithm
    jwk = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


class JwksServer:
    """Serves ``keys`` at ``url``; counts the fetches so that caching can be checked.

    ``gate`` holds every answer while it is clear: a key server that is slow, or hangs, for as
    long as a test wants, without the test measuring time.
    """

    def __init__(self, keys: list[dict]) -> None:
        self.keys = keys
        self.fetches = 0
        self.gate = threading.Event()
        self.gate.set()
        self._count_lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with server._count_lock:
                    server.fetches += 1
                server.gate.wait(timeout=30)
                body = json.dumps({"keys": server.keys}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the portal gave up waiting (its timeout) and closed the connection

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_port}/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
