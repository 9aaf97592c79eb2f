"""A real OpenID provider on loopback for the OIDC tests: oidc-provider-mock, started in a thread.

oidc-provider-mock (Authlib + Flask) implements discovery, the authorization code flow, ID
tokens signed with its own RSA key, a JWKS and user info. Two things are added around it,
as WSGI middleware, so the tests can see and prove what the portal sends:

- every request is recorded (path, query, form), so a test can check the discovery document
  was fetched once and what the portal put in the authorization request;
- PKCE is enforced: the authorization code's ``code_challenge`` is remembered when the code is
  issued, and the token request must carry the ``code_verifier`` whose S256 hash matches, or
  it gets ``400 invalid_grant``. (The mock registers no PKCE extension of its own.)
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import warnings
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import requests
import werkzeug.serving


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]


@dataclass
class RecordingPkceProvider:
    """WSGI middleware around the mock: records requests, enforces PKCE at the token endpoint."""

    app: object
    requests: list[Recorded] = field(default_factory=list)
    _challenges: dict[str, tuple[str, str]] = field(default_factory=dict)
    _pending: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        form = parse_qs(body.decode("latin-1")) if environ["REQUEST_METHOD"] == "POST" else {}
        path = environ["PATH_INFO"]
        self.requests.append(Recorded(environ["REQUEST_METHOD"], path, query, form))

        if path == "/oauth2/token" and form.get("grant_type") == ["authorization_code"]:
            refused = self._pkce_refusal(form)
            if refused:
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [json.dumps({"error": "invalid_grant", "error_description": refused}).encode()]

        def remember_code(status, headers, exc_info=None):
            location = dict(headers).get("Location", "")
            code = parse_qs(urlsplit(location).query).get("code")
            if path == "/oauth2/authorize" and code and "code_challenge" in query:
                self._challenges[code[0]] = (
                    query["code_challenge"][0],
                    query.get("code_challenge_method", ["plain"])[0],
                )
            return start_response(status, headers, exc_info)

        return self.app(environ, remember_code)

    def _pkce_refusal(self, form) -> str:
        code = form.get("code", [""])[0]
        challenge = self._challenges.pop(code, None)
        if challenge is None:
            return "the authorization request carried no PKCE code_challenge"
        verifier = form.get("code_verifier", [""])[0]
        expected, method = challenge
        if method != "S256":
            return "only the S256 PKCE method is accepted"
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return "" if verifier and digest == expected else "the code_verifier does not match the code_challenge"

    def fetches(self, path: str) -> int:
        return sum(1 for recorded in self.requests if recorded.path == path)


class Provider:
    """The provider at ``issuer`` (http://127.0.0.1:<port>), with a registered client for the portal."""

    def __init__(self, redirect_uri: str) -> None:
        with warnings.catch_warnings():
            # Its dependencies' deprecation notices (Authlib's jose and httpx modules) are not ours.
            warnings.simplefilter("ignore", DeprecationWarning)
            from oidc_provider_mock import app as provider_app

        self.recorder = RecordingPkceProvider(provider_app(require_client_registration=True, require_nonce=True))
        self._server = werkzeug.serving.make_server("127.0.0.1", 0, self.recorder, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._redirect_uri = redirect_uri

    def __enter__(self) -> Provider:
        self._thread.start()
        registered = requests.post(
            f"{self.issuer}/oauth2/clients",
            json={"redirect_uris": [self._redirect_uri], "token_endpoint_auth_method": "client_secret_post"},
            timeout=10,
        )
        registered.raise_for_status()
        self.client_id = registered.json()["client_id"]
        self.client_secret = registered.json()["client_secret"]
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def set_user(self, sub: str, **claims) -> None:
        """Create or change the provider's account ``sub`` (claims as the provider will assert them)."""
        requests.put(f"{self.issuer}/users/{sub}", json=claims, timeout=10).raise_for_status()

    def approve(self, authorization_url: str, sub: str) -> str:
        """The person ``sub`` signs in at the provider and approves; returns where the provider redirects."""
        response = requests.post(authorization_url, data={"sub": sub}, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def deny(self, authorization_url: str) -> str:
        response = requests.post(authorization_url, data={"action": "deny"}, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        return response.headers["Location"]
