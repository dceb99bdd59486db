"""DRF permission classes for the three PROTUS scopes, decided by the sidecar on every request.

| case | answer |
|---|---|
| no PROTUS user (anonymous, or another authentication) | 403 `{"AccessToken": "Access Denied. Sign-In required."}` |
| the person did not allow the scope (sidecar: 403 `insufficient_scope`) | 426 `{"AccessToken": "Вы запретили взимать плату …"}` — the original module's answer |
| revoked, expired, grant revoked or suspended (sidecar: 401 `invalid_token`) | 401 |
| the sidecar cannot reach central yet (sidecar: 503 `central_unavailable`) | 503 with `Retry-After` |
"""

from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from .authentication import ProtusAuthentication, ProtusUser
from .client import authorize
from .errors import ProtusError

# The original Django module's answers, kept word for word: partners' front ends match on them.
SIGN_IN_REQUIRED = "Access Denied. Sign-In required."
SCOPE_NOT_ALLOWED = (
    "Вы запретили взимать плату за услуги сервиса. Войдите с PROTUS, разрешив списание средств за услуги."
)


class SignInRequired(exceptions.PermissionDenied):
    status_code = 403
    default_code = "sign_in_required"

    def __init__(self):
        super().__init__({"AccessToken": SIGN_IN_REQUIRED})


class ScopeNotAllowed(exceptions.APIException):
    """426: the person signed in but did not allow this scope; send them through "Sign in with
    PROTUS" again. `scope` is the scope that was missing."""

    status_code = 426
    default_code = "insufficient_scope"

    def __init__(self, scope, message=SCOPE_NOT_ALLOWED):
        self.scope = scope
        super().__init__({"AccessToken": message})


class ProtusScopePermission(BasePermission):
    """Allows a request whose PROTUS token carries `scope` right now (asked at the sidecar)."""

    scope = ""
    scope_message = SCOPE_NOT_ALLOWED

    def has_permission(self, request, view):
        user = getattr(request, "user", None)
        if not isinstance(user, ProtusUser):
            raise SignInRequired()
        try:
            permission = authorize(user.token, scope=self.scope)
        except ProtusError as error:
            if error.status == 403 and error.code == "insufficient_scope":
                raise ScopeNotAllowed(self.scope, self.scope_message) from error
            if error.status == 403:
                raise exceptions.PermissionDenied(error.detail or None) from error
            raise ProtusAuthentication.translate(error) from error
        user.scope = permission.get("scope", user.scope)
        return True


class ProtusCheckPermission(ProtusScopePermission):
    """The person allowed `check`: you may read their balance."""

    scope = "check"


class ProtusHoldPermission(ProtusScopePermission):
    """The person allowed `hold`: you may reserve funds."""

    scope = "hold"


class ProtusChargePermission(ProtusScopePermission):
    """The person allowed `charge`: you may charge them."""

    scope = "charge"
