"""BCC's instances of one region, for the bind page: one list walk, shared through Django's cache.

Cost model: the bind page costs at most one list walk of the key pair's region (one call per
page of up to ``MAX_PAGE_SIZE`` instances, following ``nextMarker``), and none while the region's
last walk is younger than ``BCC_INSTANCE_LIST_CACHE_SECONDS``; the walk serves every person and
every worker through the shared cache (it lists the service account's instances, not one
person's). One attempt, as for ``keypairs.bcc_state``: the page must answer within one connect
and one read timeout, and a failure is cached as long as an answer, so an outage does not make
every page wait; the page says "BCC could not be reached at HH:MM".

Unlike the key pair list, no lock makes concurrent misses wait for one walker: the bind page
is opened by one person about one key pair, seldom by many at once, and a second walk costs
BCC one more list call, not a wrong answer.

The cached list only decides what the page offers. Before binding, the POST reads the chosen
instances afresh (``instances_now``, never cached): what the person confirms (the key pair an
instance holds, which their bind will replace) must be BCC's state of that moment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from keypairs.bcc.client import MAX_PAGE_SIZE
from keypairs.bcc.errors import BccError
from keypairs.bcc.factory import get_client
from keypairs.bcc.models import Instance
from keypairs.bcc_cache import bcc_account, cache_call

logger = logging.getLogger(__name__)

BCC_UNREACHABLE = _("BCC could not be reached at {time} UTC.")
# BCC's instance states as its console names them (bcc-keypair-api.md lists the values); a state
# not listed here is shown as BCC spells it.
STATUS_LABELS = {
    "Running": pgettext_lazy("instance state", "Running"),
    "Starting": pgettext_lazy("instance state", "Starting"),
    "Stopping": pgettext_lazy("instance state", "Stopping"),
    "Stopped": pgettext_lazy("instance state", "Stopped"),
    "Deleted": pgettext_lazy("instance state", "Deleted"),
    "Scaling": pgettext_lazy("instance state", "Scaling"),
    "Expired": pgettext_lazy("instance state", "Expired"),
    "Error": pgettext_lazy("instance state", "Error"),
    "SnapshotProcessing": pgettext_lazy("instance state", "Snapshot in progress"),
    "ImageProcessing": pgettext_lazy("instance state", "Image in progress"),
    "ChangeVpc": pgettext_lazy("instance state", "Changing VPC"),
    "Recycled": pgettext_lazy("instance state", "Recycled"),
}
# One attempt per read: see the module docstring.
PAGE_READ_ATTEMPTS = 1
_LIST_KEY = "keypairs:bcc-instances:{account}:{region}"
_FIELDS = tuple(field.name for field in fields(Instance))
# The clock of read times, a hook for tests.
clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


@dataclass(frozen=True)
class RegionInstances:
    """A region's instances as read at ``read_at`` (UTC); ``instances`` is None when BCC could not be reached."""

    region: str
    read_at: datetime
    instances: tuple[Instance, ...] | None

    @property
    def reached(self) -> bool:
        return self.instances is not None

    @property
    def unreachable_sentence(self) -> str | None:
        if self.reached:
            return None
        return BCC_UNREACHABLE.format(time=self.read_at.astimezone(UTC).strftime("%H:%M"))


def status_label(status: str) -> str:
    """An instance's state in the reader's language ("Running": 运行中); an unknown one as BCC says it."""
    label = STATUS_LABELS.get(status)
    return str(label) if label is not None else status


def instances_in_region(*, region: str, fresh: bool = False) -> RegionInstances:
    """The region's instances, read at most once per ``BCC_INSTANCE_LIST_CACHE_SECONDS``. Never raises for BCC.

    ``fresh``: walk now and store the answer for everyone (after this portal changed a binding,
    the cached list is known to be out of date).
    """
    key = _LIST_KEY.format(account=bcc_account(), region=region)
    found = None if fresh else _from_cache(region, cache_call(cache.get, key))
    if found is not None:
        return found
    walked = _walk(region)
    cache_call(cache.set, key, _to_cache(walked), settings.BCC_INSTANCE_LIST_CACHE_SECONDS)
    return walked


def instances_now(*, region: str, instance_ids: Sequence[str]) -> dict[str, Instance]:
    """The chosen instances as BCC holds them now: one uncached list call filtered by id.

    Raises ``BccError`` (or ``ImproperlyConfigured``): the caller must not bind on a guess. An
    id BCC does not know is missing from the answer.
    """
    client = get_client(region, max_attempts=PAGE_READ_ATTEMPTS)
    wanted = set(instance_ids)
    return {
        instance.instance_id: instance
        for instance in client.iter_instances(instance_ids=list(instance_ids))
        if instance.instance_id in wanted
    }


def _walk(region: str) -> RegionInstances:
    read_at = clock()
    try:
        client = get_client(region, max_attempts=PAGE_READ_ATTEMPTS)
        instances = tuple(client.iter_instances(page_size=MAX_PAGE_SIZE))
    except (BccError, ImproperlyConfigured) as error:
        logger.warning("Could not list the instances in %s: %s", region, error)
        return RegionInstances(region=region, read_at=clock(), instances=None)
    return RegionInstances(region=region, read_at=read_at, instances=instances)


# Plain values in the cache, not pickled classes (as keypairs.bcc_state does): a deploy that
# changes Instance must not make the entries the previous one cached unreadable.
def _to_cache(state: RegionInstances) -> dict[str, Any]:
    instances = None
    if state.instances is not None:
        instances = [{name: getattr(instance, name) for name in _FIELDS} for instance in state.instances]
    return {"read_at": state.read_at, "instances": instances}


def _from_cache(region: str, value: Any) -> RegionInstances | None:
    try:
        instances = value["instances"]
        if instances is not None:
            instances = tuple(Instance(**{**item, "tags": tuple(map(tuple, item["tags"]))}) for item in instances)
        return RegionInstances(region=region, read_at=value["read_at"], instances=instances)
    except (TypeError, KeyError):  # nothing cached, or an entry of another shape: read afresh
        return None
