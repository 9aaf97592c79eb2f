"""BCC's error answers: a code, its HTTP status, and a message for people.

Every error the sandbox gives is a :class:`SandboxError`; the HTTP layer turns it into
the body BCE services send (``{"requestId", "code", "message"}``). Statuses are looked up
by code so that a code can never go out with a status BCC would not use for it.
"""

from __future__ import annotations

STATUS_BY_CODE = {
    # Key pair rules (bcc-keypair-api.md, "Errors").
    "Keypair.KeypairNameInvalid": 400,
    "Keypair.KeypairDescriptionInvalid": 400,
    "Keypair.KeypairQuotaExceedLimit": 413,
    "Keypair.KeypairPublicKeyExist": 400,
    "Keypair.PublicKeyFormatInvalid": 400,
    "Keypair.KeypairNotExist": 404,
    "Keypair.DeleteKeypairInUse": 403,
    # Binding (bcc-keypair-api.md, "Binding").
    "Keypair.UnsupportOsType": 403,
    "Keypair.InstanceStatusForbidden": 409,
    "Keypair.AttachAttachedKeypair": 400,
    "Keypair.InstanceNotExist": 404,
    # BCE's common codes.
    "AccessDenied": 403,
    "InvalidAccessKeyId": 403,
    "SignatureDoesNotMatch": 400,
    "RequestExpired": 400,
    "InvalidHTTPAuthHeader": 400,
    "InvalidHTTPRequest": 400,
    "MalformedJSON": 400,
    "InappropriateJSON": 400,
    "InvalidURI": 400,
    "IdempotentParameterMismatch": 403,
    "EntityTooLarge": 413,
    "InternalError": 500,
}

# For injected "status" faults: the code a BCE front end would pair with each status.
CODE_BY_INJECTED_STATUS = {
    400: "InvalidHTTPRequest",
    403: "AccessDenied",
    404: "NotFound",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


class SandboxError(Exception):
    """An answer BCC would give instead of doing what was asked."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else STATUS_BY_CODE[code]


def injected_status_error(status: int) -> SandboxError:
    fallback = "InternalError" if status >= 500 else "InvalidHTTPRequest"
    code = CODE_BY_INJECTED_STATUS.get(status, fallback)
    return SandboxError(code, f"The sandbox was told to answer {status} (injected fault).", status=status)
