"""Settings for the test suite: the development defaults, with what tests need changed.

Tests run on the same settings module people run, reached with DEBUG on so that the
development defaults apply; Django's test runner still turns DEBUG itself off. The
production guards are tested by starting the settings in a subprocess with DEBUG off.
"""

import os

os.environ.setdefault("DEBUG", "true")

from portal.settings import *  # noqa: F403

# Tests run from a fresh clone without collectstatic: plain storage, and WhiteNoise serves
# straight from static/ (its documented development mode) instead of STATIC_ROOT.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests start threads and servers that touch the database; connections closed after each
# request let the test database be dropped at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Fast hashing: test users are made by the hundred, their passwords protect nothing.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A file, not SQLite's shared-cache memory database: with shared cache a blocked writer fails
# at once ("database table is locked") instead of waiting, so the concurrency tests (20+
# threads claiming one download, concurrent audit writers) could not run on SQLite.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    (BASE_DIR / "var").mkdir(exist_ok=True)  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}  # noqa: F405
