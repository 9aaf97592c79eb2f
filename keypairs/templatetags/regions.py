"""``{{ kp.region|region_label }}``: "Guangzhou (gz)", as the create form names regions."""

from django import template

from keypairs.forms import REGION_NAMES

register = template.Library()


@register.filter
def region_label(region: str) -> str:
    name = REGION_NAMES.get(region)
    return f"{name} ({region})" if name else region
