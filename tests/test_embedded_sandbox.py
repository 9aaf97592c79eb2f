"""`make run`'s embedded sandbox: its BCC_* variables and the instances it starts with."""

from keypairs.bcc.client import BccClient
from keypairs.bcc.signer import Credentials
from portal import embedded_sandbox


def test_it_points_the_portal_at_a_sandbox_whose_regions_have_instances_to_bind_to():
    environment = {"DEBUG": "true"}
    server = embedded_sandbox.start(environment)
    try:
        credentials = Credentials(environment["BCC_ACCESS_KEY_ID"], environment["BCC_SECRET_ACCESS_KEY"])
        endpoint = environment["BCC_ENDPOINT"].replace("{region}", "gz")
        with BccClient(credentials=credentials, endpoint=endpoint, region="gz") as client:
            instances = client.list_instances()
        assert len(instances) == 6
        assert {instance.status for instance in instances} == {"Running", "Stopped", "Starting"}
        assert [instance.name for instance in instances if instance.is_windows] == ["win-reports"]
    finally:
        server.stop()
