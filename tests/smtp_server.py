"""A real SMTP server on loopback (aiosmtpd), for the mail tests: what the portal sent, as received."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class ReceivedMail:
    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()


@dataclass
class SmtpServer:
    """Collects every mail it accepts; ``refuse`` makes it answer 451 to every mail until unset."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[ReceivedMail] = field(default_factory=list)
    refuse: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        if self.refuse:
            return "451 Requested action aborted: try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.received.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def mails_to(self, address: str) -> list[ReceivedMail]:
        with self._lock:
            return [mail for mail in self.received if address in mail.envelope_to]


def start_smtp_server() -> tuple[SmtpServer, Controller]:
    # aiosmtpd's Controller checks its server by connecting to the port it was given, so it
    # needs a real port, not 0: ask the system for a free one first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = SmtpServer(port=port)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return handler, controller
