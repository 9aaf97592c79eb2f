"""The BCC sandbox: a local, faithful stand-in for Baidu BCC's key pair API.

Like moto's server mode, it is a real HTTP server speaking BCC's wire format: requests
are signed with bce-auth-v1 and checked as BCC checks them, answers and errors have
BCC's shape, codes and statuses, and state is kept per access key and region. People
use it to try the portal and to test their scripts (``manage.py bcc_sandbox``); the test
suite uses it to see the portal cope with BCC, including on a bad day (fault injection).

It needs only the standard library and ``cryptography``, never Django.

Modules, one job each: ``rules`` (name and description rules), ``keys`` (key
generation and public key checks), ``auth`` (signature check), ``routing`` (region and
operation), ``instances`` (what an instance is, listing filters), ``seed`` (the instances a
region starts with), ``store`` (state), ``operations`` (what each call does), ``faults``,
``control`` (the ``/_sandbox/`` endpoint), ``app`` (one request through all of that),
``handler`` and ``server`` (HTTP), ``tls`` (TLS mode's certificate).
"""

from keypairs.sandbox.app import RequestRecord
from keypairs.sandbox.errors import SandboxError
from keypairs.sandbox.faults import KINDS as FAULT_KINDS
from keypairs.sandbox.faults import Fault
from keypairs.sandbox.routing import OPERATIONS
from keypairs.sandbox.server import SandboxServer

__all__ = ["FAULT_KINDS", "OPERATIONS", "Fault", "RequestRecord", "SandboxError", "SandboxServer"]
