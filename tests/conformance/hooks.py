"""schemathesis hooks for PROTUS (loaded through SCHEMATHESIS_HOOKS by test_conformance.py):
every generated request carries the credential its operation's security scheme names, taken
from the environment that conftest.py filled.

One `session` scheme covers two kinds of caller: paths under /api/v1/me take the customer's
session, the other session operations the company's. Signing out and rotating a secret use a
second company's session, and changing or revoking a grant a second customer's, so the
credentials of the rest of the run stay valid. The OAuth
endpoints name no scheme (RFC 6749 client authentication is described in prose) and get the
client's Basic credentials, as a partner sends them.
"""

import base64
import os

import schemathesis

# Operations that end or replace the credential they are called with.
DISPOSABLE = {("DELETE", "/api/v1/sessions/current"), ("POST", "/api/v1/company/secrets/rotate")}
DISPOSABLE_CUSTOMER = {("PATCH", "/api/v1/me/grants/{id}"), ("DELETE", "/api/v1/me/grants/{id}")}
CLIENT_AUTHENTICATED = {"/oauth/token", "/oauth/revoke", "/oauth/introspect"}


def _basic(user, password):
    return "Basic " + base64.b64encode(f"{os.environ[user]}:{os.environ[password]}".encode()).decode()


def _authorization(method, path, schemes):
    if (method, path) in DISPOSABLE:
        return "Bearer " + os.environ["PROTUS_DISPOSABLE_SESSION"]
    if (method, path) in DISPOSABLE_CUSTOMER:
        return "Bearer " + os.environ["PROTUS_DISPOSABLE_CUSTOMER_SESSION"]
    if "access_token" in schemes:
        return "Bearer " + os.environ["PROTUS_ACCESS_TOKEN"]
    if "session" in schemes:
        if path == "/api/v1/me" or path.startswith("/api/v1/me/"):
            return "Bearer " + os.environ["PROTUS_CUSTOMER_SESSION"]
        return "Bearer " + os.environ["PROTUS_COMPANY_SESSION"]
    if "sidecar" in schemes:
        return _basic("PROTUS_SIDECAR_ID", "PROTUS_SIDECAR_SECRET")
    if "client" in schemes or path in CLIENT_AUTHENTICATED:
        return _basic("PROTUS_CLIENT_ID", "PROTUS_CLIENT_SECRET")
    return None


@schemathesis.auth(refresh_interval=None)
class ProtusAuth:
    def get(self, case, ctx):
        operation = case.operation
        schemes = {name for requirement in operation.definition.raw.get("security", []) for name in requirement}
        return _authorization(operation.method.upper(), operation.path, schemes)

    def set(self, case, data, ctx):
        if data is not None:
            case.headers = {**(case.headers or {}), "Authorization": data}
