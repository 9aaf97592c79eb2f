"""``{{ kp.region|region_label }}``: "Guangzhou (gz)", as the create form names regions (``keypairs.regions``)."""

from django import template

from keypairs import regions

register = template.Library()


@register.filter
def region_label(region: str) -> str:
    return regions.region_label(region)
