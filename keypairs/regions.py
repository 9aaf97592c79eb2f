"""Region names: the one place that turns a BCC region id into what people read.

Forms (the region choices), templates (``{{ kp.region|region_label }}``) and limits (the
quota and cap sentences) all name regions through here, so a region reads the same everywhere.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

# Display names for the region ids BCC documents, as Baidu's console names them in Chinese
# (华北-北京); an id not listed here is shown as it is.
REGION_NAMES = {
    "bj": pgettext_lazy("region", "Beijing"),
    "gz": pgettext_lazy("region", "Guangzhou"),
    "su": pgettext_lazy("region", "Suzhou"),
    "bd": pgettext_lazy("region", "Baoding"),
    "fwh": pgettext_lazy("region", "Wuhan"),
    "hkg": pgettext_lazy("region", "Hong Kong"),
    "cd": pgettext_lazy("region", "Chengdu"),
    "sin": pgettext_lazy("region", "Singapore"),
    "fsh": pgettext_lazy("region", "Shanghai"),
    "yq": pgettext_lazy("region", "Yangquan"),
    "nj": pgettext_lazy("region", "Nanjing"),
}


def region_label(region: str) -> str:
    """The name people read, "Guangzhou (gz)" (华南-广州（gz）); the id itself for a region without a known name."""
    name = REGION_NAMES.get(region)
    # Read at call time, in the language of the page or mail being made.
    return _("{name} ({region})").format(name=name, region=region) if name else region


def region_choices() -> list[tuple[str, str]]:
    """The configured regions as form choices, read when a form is made so that settings overrides apply."""
    return [(region, region_label(region)) for region in settings.BCC_REGIONS]
