"""What Django's error reports (the admins' e-mail, any handler given ``exc_info`` and the request) may show.

Django hides POST parameters only for views decorated with ``sensitive_post_parameters``, which the
OAuth token view (``/o/token/``, django-oauth-toolkit) is not: a crash there would report the
``client_secret`` a client posted. This filter hides every POST parameter whose name looks like a
secret (the same pattern Django applies to settings and headers: API, AUTH, TOKEN, KEY, SECRET, PASS,
SIGNATURE), on every view.
"""

from __future__ import annotations

from django.views.debug import SafeExceptionReporterFilter


class SecretsReporterFilter(SafeExceptionReporterFilter):
    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if request is None or not any(self.hidden_settings.search(name) for name in parameters):
            return parameters
        cleansed = parameters.copy()
        for name in parameters:
            if self.hidden_settings.search(name):
                cleansed[name] = self.cleansed_substitute
        return cleansed
