"""DRF authentication through the sidecar's permission check: no token table, no signature code
in the app. A revoked, expired or unknown token is 401 at once."""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .client import authorize
from .errors import ProtusError


class ProtusUser:
    """The person behind a PROTUS access token, as `request.user`.

    `account_id` is the person's stable id at your company (`acct_…`), `scope` the effective scope
    (space-separated; the token's scope narrowed by what the person allows now), `token` the raw
    access token to bill with, `exp` its expiry (unix seconds). No database row stands behind it:
    link your own models to `account_id`.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, account_id, scope, token, exp=None):
        self.account_id = account_id
        self.scope = scope or ""
        self.token = token
        self.exp = exp

    @property
    def scopes(self):
        return frozenset(self.scope.split())

    def has_scope(self, scope):
        return scope in self.scopes

    @property
    def pk(self):
        return self.account_id

    id = pk

    def get_username(self):
        return self.account_id

    username = property(get_username)

    def __str__(self):
        return self.account_id

    def __repr__(self):
        return f"ProtusUser(account_id={self.account_id!r}, scope={self.scope!r})"

    def __eq__(self, other):
        return isinstance(other, ProtusUser) and other.account_id == self.account_id

    def __hash__(self):
        return hash(self.account_id)


class SidecarUnavailable(exceptions.APIException):
    """503: the sidecar cannot decide now (`central_unavailable` before its first sync, or the
    sidecar itself is down). `Retry-After` is sent when known."""

    status_code = 503
    default_detail = "PROTUS cannot be reached right now; try again shortly."
    default_code = "central_unavailable"

    def __init__(self, error=None):
        code = error.code if error else self.default_code
        detail = (error.detail if error else "") or str(self.default_detail)
        super().__init__({"code": code, "detail": detail}, code)
        self.wait = (error.retry_after if error else None) or 1  # DRF sends it as Retry-After


def token_refused(error):
    """401 for a token PROTUS refuses (`invalid_token`: revoked, expired, grant revoked or suspended)."""
    return exceptions.AuthenticationFailed(error.detail or "The access token is not valid.", code=error.code)


def unexpected(error):
    failure = exceptions.APIException({"code": error.code, "detail": error.detail})
    failure.status_code = 502
    return failure


class ProtusAuthentication(BaseAuthentication):
    """`Authorization: Bearer <PROTUS access token>`, checked by the sidecar.

    Any other scheme (or none) is left to the next authentication class: the request stays
    anonymous. The token is asked about with no scope (is it live, whose is it); the permission
    classes ask about their scope.
    """

    keyword = "bearer"
    www_authenticate_realm = "api"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must contain two space-delimited values")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The access token is not valid.") from None
        try:
            permission = authorize(token)
        except ProtusError as error:
            raise self.translate(error) from error
        return ProtusUser(permission["account_id"], permission.get("scope", ""), token, permission.get("exp")), token

    @staticmethod
    def translate(error):
        if error.status == 401:
            return token_refused(error)
        if error.status == 503:
            return SidecarUnavailable(error)
        return unexpected(error)

    def authenticate_header(self, request):
        # A value here makes DRF answer 401 (not 403) to a refused token, with this challenge.
        return f'Bearer realm="{self.www_authenticate_realm}"'
