"""``{% inventory_drift as drift %}``: the BCC inventory's drift counts for the admin index, or None.

None for anyone who may not view the inventory, so the counts cost nothing on their index.
"""

from django import template

from keypairs.inventory_drift import drift_counts

register = template.Library()


@register.simple_tag(takes_context=True)
def inventory_drift(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.has_perm("keypairs.view_bccinventoryentry"):
        return None
    return drift_counts()
