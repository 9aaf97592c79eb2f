"""What a gunicorn worker imports to serve pages: none of the code that only other processes need.

Every module a worker imports stays in its memory for its whole life (issue 14: a worker's
RSS after 2,000 requests at most 80 MB; docs/benchmarks.md, "Memory"). The BCC sandbox runs
in a process of its own (``manage.py bcc_sandbox``, or gunicorn's master for ``make run``),
the official SDK is the benchmarks' peer, and the rest are development and test tools: a
view or a helper importing any of them at module level would load it into every worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Loaded as gunicorn's worker loads it (portal.wsgi), then every URL pattern, as the first
# request does; prints the modules imported.
LOAD_AS_A_WORKER = (
    "import sys; import portal.wsgi; from django.urls import get_resolver; "
    "get_resolver().url_patterns; print('\\n'.join(sorted(sys.modules)))"
)
NOT_FOR_A_WORKER = (
    "keypairs.sandbox",  # the BCC sandbox
    "baidubce",  # the official SDK (bench/ only)
    "polib",  # make messages
    "lxml",
    "pytest",
    "_pytest",
    "tests",
    "bench",
    "django.test",
    "playwright",
)


def test_a_worker_serving_pages_never_imports_the_sandbox_the_sdk_or_development_tools():
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "BCC_"))}
    environment.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="false",
        SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="portal.example.com",
        AUDIT_HMAC_KEY="y" * 40,
        DOWNLOAD_TOKEN_KEY="z" * 40,
        BCC_ACCESS_KEY_ID="a" * 32,
        BCC_SECRET_ACCESS_KEY="b" * 32,
        ALLOW_LOCAL_AUTH_IN_PRODUCTION="true",
    )
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_AS_A_WORKER],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert loaded.returncode == 0, loaded.stderr
    modules = loaded.stdout.split()
    assert "keypairs.views" in modules  # the pages were loaded at all
    unwanted = [name for name in modules if any(name == top or name.startswith(top + ".") for top in NOT_FOR_A_WORKER)]
    assert unwanted == []
