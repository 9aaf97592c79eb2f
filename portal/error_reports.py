"""Error reports that hide sensitive POST fields and variables in development too.

Django's ``SafeExceptionReporterFilter`` is inactive while ``DEBUG`` is on: its technical 500
page then lists every POST field, ``sensitive_post_parameters`` notwithstanding, and Django's
template engine logs that page's context at DEBUG level. The import form's ``public_key`` may
hold a private key pasted by mistake, which must reach no page and no log, on a developer's
machine as in production; so the filter here is always active.
"""

from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request) -> bool:
        return True
