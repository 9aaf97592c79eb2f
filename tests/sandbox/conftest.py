import pytest
from sandbox_http import SignedClient


@pytest.fixture
def bcc(sandbox):
    """A client signing with the sandbox's keys, talking to region bj through the path prefix."""
    client = SignedClient(sandbox.url, sandbox.access_key_id, sandbox.secret_access_key, region="bj")
    yield client
    client.session.close()
