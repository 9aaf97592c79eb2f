"""How every write service reports failure: one exception family, ``ServiceError``.

A service returns its domain result when it did what was asked, and raises a ``ServiceError``
when it did not. Views catch ``ServiceError`` alone, put ``message`` on the page, answer with
``http_status`` (and ``Retry-After`` when ``retry_after`` is set), and never branch on the
text: code branches on ``code``.

- ``ServiceRefused``: the portal said no before anything happened (a limit, a form that is not
  the user's, input BCC would refuse). Nothing was stored or sent to BCC; only an audit row
  may have been written.
- ``ServiceFailed``: the attempt was made and did not succeed (BCC refused or did not answer,
  the portal could not store the result). It is recorded: ``keypair_request`` is the row that
  says what happened.

``message`` is a module-constant sentence (``keypairs.messages`` and the services' own),
formatted, safe to show: never a key, token, pasted input or BCC's raw answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keypairs.models import KeyPairRequest


class ServiceError(Exception):
    """A write service did not do what was asked; ``message`` says why, to the user.

    ``http_status`` is what a view answers with, ``code`` a short machine-readable reason
    (a ``keypairs.limits`` kind, a BCC error code, a portal code such as ``form_already_used``),
    ``retry_after`` the seconds after which trying again can succeed, ``operators_must_act``
    whether only the portal's operators can fix it (the log already has their copy).
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        code: str = "",
        retry_after: int | None = None,
        operators_must_act: bool = False,
        keypair_request: KeyPairRequest | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.retry_after = retry_after
        self.operators_must_act = operators_must_act
        self.keypair_request = keypair_request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(http_status={self.http_status}, code={self.code!r})"


class ServiceRefused(ServiceError):
    """Refused before anything happened: nothing stored, nothing sent to BCC (an audit row at most)."""


class ServiceFailed(ServiceError):
    """Tried and failed: ``keypair_request`` is the recorded attempt (its status says how it ended)."""
