"""Real syslog receivers on loopback, each in a thread: TCP (RFC 6587 octet-counted frames), TLS, UDP.

Used by the shipping tests (tests/test_audit_shipping.py, tests/test_audit_checkpoints.py)
and by the shipping benchmark (bench/audit_shipping.py), which measures the portal's shipper
against these same servers.
"""

from __future__ import annotations

import json
import socketserver
import ssl
import threading
from datetime import UTC, datetime, timedelta


def octet_counted_frames(data: bytes) -> list[str]:
    """The messages of a stream of RFC 6587 octet-counted frames ("<length> <message>...").

    Walks the stream by offset: slicing off each frame would copy the rest of the stream once
    per frame, quadratic in a batch's size.
    """
    frames, position, view = [], 0, memoryview(data)
    while position < len(data):
        space = data.index(b" ", position)
        length = int(data[position:space])
        start = space + 1
        frames.append(bytes(view[start : start + length]).decode("ascii"))
        position = start + length
    return frames


def parse_rfc5424(message: str) -> dict:
    pri_version, timestamp, hostname, app_name, procid, msgid, structured_data, msg = message.split(" ", 7)
    priority, version = pri_version[1:].split(">")
    return {
        "priority": int(priority),
        "version": version,
        "timestamp": timestamp,
        "hostname": hostname,
        "app_name": app_name,
        "procid": procid,
        "msgid": msgid,
        "structured_data": structured_data,
        "msg": msg,
    }


class SyslogTCPReceiver:
    """A syslog server on 127.0.0.1 reading octet-counted frames until the sender's end-of-stream."""

    def __init__(self, port: int = 0) -> None:
        receiver = self
        self.messages: list[str] = []
        self.connections = 0

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                data = self.rfile.read()  # until the shipper's end-of-stream
                receiver.messages.extend(octet_counted_frames(data))
                receiver.connections += 1

        socketserver.TCPServer.allow_reuse_address = True
        self.server = socketserver.TCPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def all_records(self) -> list[dict]:
        return [json.loads(parse_rfc5424(message)["msg"]) for message in self.messages]

    @property
    def records(self) -> list[dict]:
        """The events, without the checkpoints between them."""
        return [record for record in self.all_records if "checkpoint" not in record]


class SyslogTLSReceiver(SyslogTCPReceiver):
    """The TCP receiver behind TLS, as a syslog server on port 6514 would be."""

    def __init__(self, cert_path: str, key_path: str) -> None:
        super().__init__()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)


class SyslogUDPReceiver:
    def __init__(self) -> None:
        receiver = self
        self.messages: list[str] = []
        self.arrived = threading.Condition()

        class Handler(socketserver.DatagramRequestHandler):
            def handle(self):
                with receiver.arrived:
                    receiver.messages.append(self.request[0].decode("ascii"))
                    receiver.arrived.notify_all()

        self.server = socketserver.UDPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10) -> list[str]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
        return list(self.messages)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed_certificate(directory) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that is its own CA, and its key, as PEM files in ``directory`` (a Path)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syslog test receiver")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "receiver.pem", directory / "receiver.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)
