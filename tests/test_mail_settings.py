"""EMAIL_URL holds the mail server's password: it is read once and never kept as a setting.

Django's error reports (the technical 500 page under DEBUG, the admins' error mails) list every
setting, hiding only names that look secret (KEY, PASS, TOKEN...); EMAIL_URL is not one of them.
"""

from __future__ import annotations

import os
import subprocess
import sys

PRINT_SAFE_SETTINGS = (
    "import django; django.setup(); "
    "from django.conf import settings; "
    "from django.views.debug import SafeExceptionReporterFilter; "
    "print(repr(SafeExceptionReporterFilter().get_safe_settings())); "
    "print('backend', settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS)"
)


def test_the_mail_servers_password_is_in_no_error_report_and_the_url_still_configures_mail():
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "true",
        "EMAIL_URL": "smtp+tls://mailer:s3cret-mail-pw@smtp.example.com:587",
    }

    printed = subprocess.run(
        [sys.executable, "-c", PRINT_SAFE_SETTINGS], env=environment, capture_output=True, text=True, check=True
    ).stdout

    assert "s3cret-mail-pw" not in printed
    assert "backend django.core.mail.backends.smtp.EmailBackend smtp.example.com 587 True" in printed
