"""OAuth2 client-credentials grant at ``/o/token/``: a client gets only the scopes it was created with."""

from __future__ import annotations

from oauth2_provider.oauth2_validators import OAuth2Validator

from console.models import ApiClient


def allowed_scopes(application) -> list[str]:
    try:
        return list(application.console_client.scopes)
    except ApiClient.DoesNotExist:
        return []


class ConsoleOAuth2Validator(OAuth2Validator):
    """Client credentials only; the granted scopes are the requested ones narrowed to the allowed ones.

    RFC 6749 §3.3 lets the server issue fewer scopes than requested (the token response then
    names them in ``scope``). Asking for nothing, or only for scopes it lacks, gives a client all
    the scopes it was created with; it never gets one outside them. A client without any allowed
    scope (an application made by hand in the admin) gets ``invalid_scope``.
    """

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        if grant_type != "client_credentials":
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        return allowed_scopes(request.client)

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        allowed = allowed_scopes(client)
        if not allowed:
            return False
        granted = [scope for scope in dict.fromkeys(scopes) if scope in allowed] or allowed
        request.scopes = granted
        return True
