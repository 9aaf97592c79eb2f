"""What changing and deleting a key pair share: one BCC call on a key pair the person owns.

Both answer someone else's key pair as if it did not exist, and both leave the record as it was
when BCC did not do what was asked: the operators get a log line when only they can help, and
the failure's audit row is written outside any transaction. Each service reads its own BCC codes
first (a delete's key pair bound to instances, a change's invalid name) and words its own
sentences ("Nothing was changed", "The key pair was not deleted"): a ``Failures`` holds them,
with the service's audit action and logger, so its log lines keep the name they always had.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from keypairs.audit import Origin
from keypairs.bcc.errors import BccApiError, BccError, BccTransportError
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.services.bcc_failures import SETTINGS_INCOMPLETE, is_misconfiguration, transport_reason
from keypairs.services.errors import ServiceFailed, ServiceRefused

Outcome = AuditEvent.Outcome

NO_SUCH_KEYPAIR = _("There is no such key pair.")


@dataclass(frozen=True)
class Failures:
    """How one service words and records BCC's failures."""

    what: str  # "delete", "name change": the operators' log lines say which
    action: str  # the audit action of a failure: Action.DELETE_FAILED, Action.CHANGE_FAILED
    logger: logging.Logger
    misconfigured: str  # {reference}: the portal's own BCC credentials or signing are wrong
    refused: str  # {code}: BCC refused for a reason the service does not read itself
    no_answer: str  # the request was sent and no answer came: it may have been done
    unavailable: str  # {reason}: the request never reached BCC


def refuse_unless_owned(*, user, keypair_request: KeyPairRequest) -> None:
    """Another person's key pair does not exist here (404), whatever it is."""
    if user is None or keypair_request.owner_id != user.pk:
        raise ServiceRefused(str(NO_SUCH_KEYPAIR), http_status=404, code="not_found")


def failure_for(
    failures: Failures, error: BccError, *, code: str, reference: str, keypair_request: KeyPairRequest
) -> ServiceFailed:
    """The sentence for a failure the service did not word itself."""
    if isinstance(error, BccApiError):
        if is_misconfiguration(error):
            message = failures.misconfigured.format(reference=reference)
            return ServiceFailed(
                message, http_status=502, code=code, operators_must_act=True, keypair_request=keypair_request
            )
        message = failures.refused.format(code=error.code)
        return ServiceFailed(message, http_status=502, code=code, keypair_request=keypair_request)
    if isinstance(error, BccTransportError) and error.sent:
        return ServiceFailed(str(failures.no_answer), http_status=504, code=code, keypair_request=keypair_request)
    message = failures.unavailable.format(reason=transport_reason(error))
    return ServiceFailed(message, http_status=503, code=code, keypair_request=keypair_request)


def record_failure(
    failures: Failures,
    keypair_request: KeyPairRequest,
    error: BccError,
    facing: ServiceFailed,
    *,
    detail: str,
    audit,
    origin: Origin,
) -> None:
    """The operators' log line (when only they can help) and the failure's audit row; the caller raises."""
    if facing.operators_must_act:
        # The operators' copy: the code and BCC's request id, never a key, token or body.
        failures.logger.error(
            "BCC %s failed and needs an operator: code=%s region=%s bcc_request_id=%s portal_request_id=%s: %s",
            failures.what,
            facing.code,
            keypair_request.region,
            error.request_id or "-",
            origin.portal_request_id or "-",
            error,
        )
    audit(
        action=failures.action,
        outcome=Outcome.FAILURE,
        bcc_request_id=error.request_id or "",
        bcc_error_code=facing.code,
        latency_ms=error.latency_ms,
        detail=detail,
    )


def misconfigured(
    failures: Failures, keypair_request: KeyPairRequest, error: ImproperlyConfigured, *, audit, origin: Origin
) -> ServiceFailed:
    """No BCC client could be made: nothing was sent, and only an operator can fix it; the caller raises."""
    # ImproperlyConfigured from the factory names settings, never their values.
    failures.logger.error(
        "BCC %s failed and needs an operator: code=%s region=%s portal_request_id=%s: %s",
        failures.what,
        SETTINGS_INCOMPLETE,
        keypair_request.region,
        origin.portal_request_id or "-",
        error,
    )
    audit(action=failures.action, outcome=Outcome.FAILURE, bcc_error_code=SETTINGS_INCOMPLETE, detail=str(error))
    return ServiceFailed(
        failures.misconfigured.format(reference=origin.portal_request_id),
        http_status=502,
        code=SETTINGS_INCOMPLETE,
        operators_must_act=True,
        keypair_request=keypair_request,
    )
