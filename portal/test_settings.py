"""Settings for the test suite: the development defaults, with what tests need changed.

Tests run on the same settings module people run, reached with DEBUG on so that the
development defaults apply; Django's test runner still turns DEBUG itself off. The
production guards are tested by starting the settings in a subprocess with DEBUG off.
"""

import os

os.environ.setdefault("DEBUG", "true")

from portal.settings import *  # noqa: F403

# Tests render templates without running collectstatic first.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
# Fast hashing: test users are made by the hundred, their passwords protect nothing.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
