"""Region names: the one place that turns a BCC region id into what people read.

Forms (the region choices), templates (``{{ kp.region|region_label }}``) and limits (the
quota and cap sentences) all name regions through here, so a region reads the same everywhere.
"""

from __future__ import annotations

from django.conf import settings

# Display names for the region ids BCC documents; an id not listed here is shown as it is.
REGION_NAMES = {
    "bj": "Beijing",
    "gz": "Guangzhou",
    "su": "Suzhou",
    "bd": "Baoding",
    "fwh": "Wuhan",
    "hkg": "Hong Kong",
    "cd": "Chengdu",
    "sin": "Singapore",
    "fsh": "Shanghai",
    "yq": "Yangquan",
    "nj": "Nanjing",
}


def region_label(region: str) -> str:
    """The name people read, "Guangzhou (gz)"; the id itself for a region without a known name."""
    name = REGION_NAMES.get(region)
    return f"{name} ({region})" if name else region


def region_choices() -> list[tuple[str, str]]:
    """The configured regions as form choices, read when a form is made so that settings overrides apply."""
    return [(region, region_label(region)) for region in settings.BCC_REGIONS]
