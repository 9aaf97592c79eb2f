"""Fixtures shared by the client's tests."""

import pytest


@pytest.fixture
def accepted_connections(sandbox, monkeypatch):
    """The TCP connections the sandbox accepts from now on, seen from the server's side."""
    accepted = []
    server = sandbox._http
    track = server.track

    def recording_track(connection):
        accepted.append(connection.getpeername())
        track(connection)

    monkeypatch.setattr(server, "track", recording_track)
    return accepted
