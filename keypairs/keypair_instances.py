"""The instances a key pair is bound to now, as BCC says: read right before acting on them.

Deleting a bound key pair, unbinding it under a policy, replacing it on its instances: each acts
on exactly the instances BCC holds it on at that moment, so this read is **never cached** (the
bind page's short-lived listing is another module's job). It is one paged walk of the region's
instances (``iter_instances``), matched here on ``Instance.keypair_id``: BCC documents no key pair
filter for its instance list, so the portal does not depend on one (bcc-keypair-api.md,
"Instances").
"""

from __future__ import annotations

from keypairs.bcc.factory import get_client
from keypairs.bcc.models import Instance


def instances_bound_to(*, region: str, keypair_id: str) -> list[Instance]:
    """The region's instances that hold ``keypair_id`` now, by instance id; one uncached walk.

    Raises what the BCC client raises (``BccError``; ``ImproperlyConfigured`` when the portal's
    BCC settings are incomplete): the caller words it, since only it knows what was about to happen.
    """
    return [instance for instance in instances_in_region(region=region) if instance.keypair_id == keypair_id]


def instances_in_region(*, region: str) -> list[Instance]:
    """Every instance in the region now, by instance id (one uncached walk), for a caller matching several key pairs."""
    return sorted(get_client(region).iter_instances(), key=lambda instance: instance.instance_id)
