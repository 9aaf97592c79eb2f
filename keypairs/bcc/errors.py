"""What can go wrong when talking to BCC, in two families.

``BccTransportError``: no valid answer came back (could not connect, timed out, TLS failed,
the connection dropped, the answer could not be read). Each carries ``sent``: whether the
request may have reached BCC. ``sent=False`` is a certainty (the request never left);
``sent=True`` means "maybe", never "certainly".

``BccApiError``: BCC answered, with an error. Callers branch on ``code`` (the constants
below), never on message text.

``BccOutcomeUnknown`` is the transport error a create or import raises when the request may
have been sent and no valid answer came: the key pair may exist, and if it does, its private
key is gone. A 5xx that carries a well-formed BCE error body is *not* unknown: BCC's API layer
answered with a code, so it is a ``BccApiError`` (``InternalError`` and friends). A 502/503/504
page from a gateway is not a BCC answer, so on create it is unknown.

Every message is a fixed sentence (the constants below, so tests can assert the exact text).
No message ever holds a secret, a header or a body; BCC's own error message is kept in
``BccApiError.message`` and left out of ``str()``.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# --- BCC error codes (shared/reference/bcc-keypair-api.md) ------------------------------
KEYPAIR_NAME_INVALID = "Keypair.KeypairNameInvalid"
KEYPAIR_DESCRIPTION_INVALID = "Keypair.KeypairDescriptionInvalid"
KEYPAIR_QUOTA_EXCEEDED = "Keypair.KeypairQuotaExceedLimit"
KEYPAIR_PUBLIC_KEY_EXISTS = "Keypair.KeypairPublicKeyExist"
PUBLIC_KEY_FORMAT_INVALID = "Keypair.PublicKeyFormatInvalid"
KEYPAIR_NOT_EXIST = "Keypair.KeypairNotExist"
DELETE_KEYPAIR_IN_USE = "Keypair.DeleteKeypairInUse"
# Binding (bind and unbind).
UNSUPPORT_OS_TYPE = "Keypair.UnsupportOsType"
INSTANCE_STATUS_FORBIDDEN = "Keypair.InstanceStatusForbidden"
ATTACH_ATTACHED_KEYPAIR = "Keypair.AttachAttachedKeypair"
INSTANCE_NOT_EXIST = "Keypair.InstanceNotExist"
ACCESS_DENIED = "AccessDenied"
INVALID_ACCESS_KEY_ID = "InvalidAccessKeyId"
SIGNATURE_DOES_NOT_MATCH = "SignatureDoesNotMatch"
REQUEST_EXPIRED = "RequestExpired"
INVALID_HTTP_AUTH_HEADER = "InvalidHTTPAuthHeader"
MALFORMED_JSON = "MalformedJSON"
INAPPROPRIATE_JSON = "InappropriateJSON"
INVALID_URI = "InvalidURI"
INTERNAL_ERROR = "InternalError"
IDEMPOTENT_PARAMETER_MISMATCH = "IdempotentParameterMismatch"

# --- Messages ------------------------------------------------------------------------------
CONNECT_REFUSED = "Could not connect to BCC; the request was not sent."
NAME_NOT_RESOLVED = "Could not find BCC's address (DNS lookup failed); the request was not sent."
CONNECT_TIMED_OUT = "Connecting to BCC timed out; the request was not sent."
READ_TIMED_OUT = "BCC did not answer in time."
TLS_HANDSHAKE_FAILED = "TLS handshake failed; the request was not sent."
TLS_CERTIFICATE_NOT_TRUSTED = "TLS handshake failed: BCC's certificate is not trusted; the request was not sent."
CONNECTION_LOST = "The connection to BCC was lost before it answered."
BAD_RESPONSE = "BCC's answer could not be read (HTTP {status})."
OUTCOME_UNKNOWN_CREATE = "BCC did not answer; the key pair may or may not have been created."
OUTCOME_UNKNOWN_IMPORT = "BCC did not answer; the key pair may or may not have been imported."
API_ERROR = "BCC refused the request: {code} (HTTP {status})."


# --- What a person reads ----------------------------------------------------------------------
# The messages above are the operators' (logs, audit rows: English). A page that says why BCC
# could not be reached words the same failures in the reader's language, as the middle of a
# sentence ("BCC could not be reached (connecting to BCC timed out).").
_REASONS = {
    CONNECT_REFUSED: _("could not connect to BCC"),
    NAME_NOT_RESOLVED: _("could not find BCC's address (DNS lookup failed)"),
    CONNECT_TIMED_OUT: _("connecting to BCC timed out"),
    READ_TIMED_OUT: _("BCC did not answer in time"),
    TLS_HANDSHAKE_FAILED: _("the TLS handshake failed"),
    TLS_CERTIFICATE_NOT_TRUSTED: _("the TLS handshake failed: BCC's certificate is not trusted"),
    CONNECTION_LOST: _("the connection to BCC was lost before it answered"),
}
BAD_RESPONSE_REASON = _("BCC's answer could not be read (HTTP {status})")
OUTCOME_UNKNOWN_REASON = _("BCC did not answer")


def reason_for_people(error: BccError) -> str | None:
    """Why a call failed without an answer, in the reader's language: the middle of a sentence.

    None for an error these sentences do not cover (the caller then says it its own way).
    """
    if isinstance(error, BccBadResponseError):
        return BAD_RESPONSE_REASON.format(status=error.status)
    if isinstance(error, BccOutcomeUnknown):
        return str(OUTCOME_UNKNOWN_REASON)
    # The transport's message is one of the fixed sentences above, so it names the failure exactly.
    reason = _REASONS.get(str(error))
    return str(reason) if reason is not None else None


class BccError(Exception):
    """Any failed BCC call.

    ``request_id`` is BCC's ``x-bce-request-id`` when an answer came; ``attempts`` and
    ``latency_ms`` (whole call, retries and back-off included) are filled in by the transport
    when it gives up, so a caller can record them for failures as for successes.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        region: str = "",
        request_id: str | None = None,
        attempts: int = 1,
        latency_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.region = region
        self.request_id = request_id
        self.attempts = attempts
        self.latency_ms = latency_ms


class BccTransportError(BccError):
    """No valid answer from BCC. ``kind`` names the failure for logs and audit rows."""

    kind = "transport"

    def __init__(self, message: str, *, sent: bool, kind: str | None = None, **context) -> None:
        super().__init__(message, **context)
        self.sent = sent
        if kind is not None:
            self.kind = kind


class BccConnectError(BccTransportError):
    """Connection refused or host name not found: the request never reached BCC."""

    kind = "connect_error"

    def __init__(self, message: str = CONNECT_REFUSED, **context) -> None:
        super().__init__(message, sent=False, **context)


class BccTimeoutError(BccTransportError):
    """A connect timeout (``sent=False``) or a read timeout (``sent=True``)."""

    def __init__(self, *, sent: bool, **context) -> None:
        message = READ_TIMED_OUT if sent else CONNECT_TIMED_OUT
        kind = "read_timeout" if sent else "connect_timeout"
        super().__init__(message, sent=sent, kind=kind, **context)


class BccTLSError(BccTransportError):
    """The TLS handshake failed (certificate not trusted, protocol mismatch): nothing was sent."""

    kind = "tls_error"

    def __init__(self, message: str = TLS_HANDSHAKE_FAILED, **context) -> None:
        super().__init__(message, sent=False, **context)


class BccConnectionLostError(BccTransportError):
    """The connection dropped after the request went out and before a whole answer came back."""

    kind = "connection_lost"

    def __init__(self, **context) -> None:
        super().__init__(CONNECTION_LOST, sent=True, **context)


class BccBadResponseError(BccTransportError):
    """An answer came, but not one BCC would send: not JSON, or JSON of the wrong shape."""

    kind = "bad_response"

    def __init__(self, *, status: int, **context) -> None:
        super().__init__(BAD_RESPONSE.format(status=status), sent=True, **context)
        self.status = status


class BccOutcomeUnknown(BccTransportError):
    """A create or import may have reached BCC and no valid answer came back.

    The key pair may exist in BCC; if it does, its private key is lost. ``reason`` is the
    ``kind`` of the transport failure behind it (also chained as ``__cause__``), ``status``
    the HTTP status when an unreadable answer came.
    """

    kind = "outcome_unknown"

    def __init__(self, message: str, *, reason: str, status: int | None = None, **context) -> None:
        super().__init__(message, sent=True, **context)
        self.reason = reason
        self.status = status

    @classmethod
    def from_error(cls, message: str, error: BccTransportError) -> BccOutcomeUnknown:
        return cls(
            message,
            reason=error.kind,
            status=getattr(error, "status", None),
            operation=error.operation,
            region=error.region,
            request_id=error.request_id,
            attempts=error.attempts,
            latency_ms=error.latency_ms,
        )


class BccApiError(BccError):
    """BCC answered with an error. ``message`` is BCC's text, kept out of ``str()``."""

    kind = "api_error"

    def __init__(self, *, code: str, status: int, message: str = "", request_id: str | None = None, **context) -> None:
        super().__init__(API_ERROR.format(code=code, status=status), request_id=request_id, **context)
        self.code = code
        self.status = status
        self.message = message
