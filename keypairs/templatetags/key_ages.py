"""``{% with age=kp|key_age %}``: a key pair's expiry (``keypairs.key_age``), from the fields already loaded.

None (nothing to show) when its region has no maximum age or the key pair is not in BCC. No
query: the list page costs the same with the expiry as without it.
"""

from django import template

from keypairs.key_age import key_age_of

register = template.Library()


@register.filter
def key_age(keypair_request):
    return key_age_of(keypair_request)
