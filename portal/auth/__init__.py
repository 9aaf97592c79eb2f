"""Who may use the portal: sign-in modes, identities, roles and the audit of every sign-in.

One setting, ``AUTH_MODE``, chooses how people sign in (see ``modes.py``):

- ``oidc``: OpenID Connect, authorization code flow with PKCE (``oidc.py``, ``discovery.py``).
- ``proxy``: an identity-aware proxy in front of the portal vouches for each request with a
  signed JWT assertion (``proxy.py``).
- ``local``: Django accounts with passwords, for development (``make run``).

In the two SSO modes a person is matched on the provider's stable subject (``sub``), never on
an email address or a user name (``identities.py``), and a configurable claim carries their
roles (``roles.py``): developers create key pairs, auditors review the audit log in the admin,
portal admins see the admin's records. Someone the provider vouches for who has none of these
roles is refused, politely (``views.no_access``). Every sign-in, sign-out and refused sign-in
is written to the audit log (``audit_hooks.py``), in every mode.
"""
