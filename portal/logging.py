"""How the portal's log lines look: one JSON object per line in production, plain text with DEBUG.

Following one create from the browser to BCC
--------------------------------------------
``RequestIdMiddleware`` gives every request an id, returns it in ``X-Request-ID`` and binds it
to ``request_id_var`` while the request is served. Every line logged meanwhile, in whatever
module, carries it as ``request_id``: the BCC client's line for each attempt
(``keypairs.bcc``, with ``bcc_operation``, ``bcc_region``, ``bcc_status``,
``bcc_request_id``, ``bcc_latency_ms``, ...) therefore names both the portal's request and
BCC's. gunicorn's access line carries the same id, read from the response header (it is
written after the request has left Django). So an operator goes from a browser's
``X-Request-ID`` (or the audit row's ``portal_request_id``) to the access line, the
application's lines and BCC's request id, which BCC's support can look up.

A JSON line holds ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``,
``message``, ``request_id`` when there is one, every ``bcc_*`` field a record carries,
``status_code`` (Django's request logger), the access fields of a gunicorn access line, and
``exception`` with the traceback. Nothing else a record carries is copied: Django attaches
the whole ``HttpRequest`` to some records, and its cookies must not reach a log.

Why ASCII-only JSON: ``json.dumps`` escapes control characters but leaves U+2028, U+2029 and
U+0085 raw, which some readers treat as line breaks, and bidi controls, which make a raw line
read differently from what it says. A key pair name is user input; escaped, it can neither
split a line nor disguise one. Log processors decode ``\\uXXXX`` as they decode the rest.

Secrets: the code never logs a secret (tests check it). As a second line of defence, both
formatters replace a PEM private key block, and the configured ``SECRET_KEY``,
``BCC_SECRET_ACCESS_KEY``, ``AUDIT_HMAC_KEY`` and ``DOWNLOAD_TOKEN_KEY``, wherever they would appear in a message
or a traceback. A download token is random and cannot be recognised; it is kept out of logs
by never being passed to one.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

LOG_FORMATS = ("json", "plain")
INVALID_LOG_FORMAT = "LOG_FORMAT must be one of {choices}, not {value!r}."

# The id of the request this thread (or task) is serving; "" outside a request.
request_id_var: ContextVar[str] = ContextVar("portal_request_id", default="")

# The record attribute RequestIdFilter stamps; read first, so that a record formatted later
# (by a queue handler, or in a test) keeps the id it was logged under.
RECORD_ATTRIBUTE = "portal_request_id"

PRIVATE_KEY_REMOVED = "[private key removed]"
SECRET_REMOVED = "[secret removed]"  # noqa: S105 - a placeholder, not a secret
# The settings whose values must never appear in a log line.
SECRET_SETTINGS = ("SECRET_KEY", "BCC_SECRET_ACCESS_KEY", "AUDIT_HMAC_KEY", "DOWNLOAD_TOKEN_KEY")
# Shorter values would be replaced wherever they happen to occur, mangling lines; real secrets
# are far longer (production refuses an AUDIT_HMAC_KEY under 32 characters).
SHORTEST_SCRUBBED_SECRET = 12
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)

# gunicorn's access atoms worth a field of their own. Not "r" (the request line), "q" (the
# query string) or "f" (the referrer): they carry query strings, where tokens could hide.
_ACCESS_FIELDS = {
    "h": "remote_addr",
    "m": "http_method",
    "U": "http_path",
    "s": "http_status",
    "B": "response_bytes",
    "M": "duration_ms",
}
_ACCESS_REQUEST_ID = "{x-request-id}o"


def log_format(value: str, *, debug: bool) -> str:
    """The format named by ``LOG_FORMAT``; without one, plain text with DEBUG (people read it)
    and JSON lines without (machines read it). Raises ValueError for anything else."""
    chosen = value.strip().lower() if value and value.strip() else ("plain" if debug else "json")
    if chosen not in LOG_FORMATS:
        raise ValueError(INVALID_LOG_FORMAT.format(choices=" or ".join(LOG_FORMATS), value=value))
    return chosen


# --- The request id ------------------------------------------------------------------------


def bind_request_id(request_id: str) -> Token[str]:
    """Make ``request_id`` the current request's id; hand the token to ``unbind_request_id``."""
    return request_id_var.set(request_id)


def unbind_request_id(token: Token[str]) -> None:
    request_id_var.reset(token)


def current_request_id(record: logging.LogRecord | None = None) -> str:
    """The portal request id a record was logged under, else the one being served now."""
    return getattr(record, RECORD_ATTRIBUTE, "") or request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id at the moment it is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, RECORD_ATTRIBUTE, ""):
            setattr(record, RECORD_ATTRIBUTE, request_id_var.get())
        return True


# --- Keeping secrets out ---------------------------------------------------------------------


def scrub(text: str) -> str:
    """``text`` without PEM private keys and without the configured secrets."""
    if "PRIVATE KEY-----" in text:
        text = _PEM_PRIVATE_KEY.sub(PRIVATE_KEY_REMOVED, text)
    for secret in _configured_secrets():
        if secret in text:
            text = text.replace(secret, SECRET_REMOVED)
    return text


def _configured_secrets() -> Iterator[str]:
    # Lazily, and only once Django has its settings: gunicorn's master formats lines before
    # any settings exist, and a log call must never be what loads them.
    from django.conf import settings

    if not settings.configured:
        return
    for name in SECRET_SETTINGS:
        value = getattr(settings, name, "")
        if isinstance(value, str) and len(value) >= SHORTEST_SCRUBBED_SECRET:
            yield value


# --- Formatters ------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line; see the module docstring for its fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        request_id = current_request_id(record)
        if request_id:
            entry["request_id"] = request_id
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            entry.update(_access_fields(record.args))
        for name, value in record.__dict__.items():
            if name.startswith("bcc_") or name == "status_code":
                entry[name] = value
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str)


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message``, for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id_shown)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.request_id_shown = current_request_id(record) or "-"
        return scrub(super().format(record))


def _utc_time(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _access_fields(atoms: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: atoms.get(atom) for atom, name in _ACCESS_FIELDS.items() if atoms.get(atom) is not None}
    if "http_status" in fields:
        fields["http_status"] = int(fields["http_status"])
    request_id = atoms.get(_ACCESS_REQUEST_ID)
    if request_id:
        fields["request_id"] = request_id
    return fields
