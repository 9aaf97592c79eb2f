"""The portal's own settings, with one more URL: the floor page (``bench/floor.py``).

Everything else is ``portal.settings`` unchanged: the middleware stack, sessions, CSRF, the
security headers, the request id, JSON logging, the templates and the database. Only the URL
table differs, so the floor is served exactly as every page of the portal is.
"""

from portal.settings import *  # noqa: F403 - the portal's settings, whole

ROOT_URLCONF = "bench.floor"
