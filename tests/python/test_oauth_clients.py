"""Real third-party OAuth clients against a real `protus central`, used the way a partner would:

- authlib's OAuth2Session drives the authorization-code flow with PKCE (S256), client_secret_basic
  and client_secret_post, refresh-token rotation and reuse detection (RFC 6749, 7636, 9207, 9700);
- PyJWT verifies the access token (RFC 9068 profile, EdDSA) through PyJWKClient against
  /.well-known/jwks.json;
- authlib validates the RFC 8414 metadata document.
"""

import base64
import json
import time
import urllib.parse

import jwt
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from conftest import REDIRECT_URI, TIMEOUT, consent

ALL_SCOPES = "check hold charge"
ACCESS_TTL_S = 3600  # DESIGN §4: default lifetime 1 h


def oauth_client(partner, auth_method, scope=ALL_SCOPES):
    return OAuth2Session(
        client_id=partner.client_id,
        client_secret=partner.client_secret,
        token_endpoint_auth_method=auth_method,
        scope=scope,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        default_timeout=TIMEOUT,
    )


def record_token_responses(client):
    """Keeps every response of the token endpoint that authlib reads (for headers and requests)."""
    seen = []

    def keep(response):
        seen.append(response)
        return response

    client.register_compliance_hook("access_token_response", keep)
    client.register_compliance_hook("refresh_token_response", keep)
    return seen


def authorize(client, metadata, customer, grant=None):
    """authlib builds the authorization URL (with its PKCE challenge), the person consents, and
    authlib exchanges the code from the redirect. Returns (token, the redirect's parameters)."""
    verifier = generate_token(64)
    url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["code_challenge_method"] == "S256" and query["code_challenge"], url
    location = consent(url, customer, grant=grant)
    assert location.startswith(REDIRECT_URI + "?"), location
    returned = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert returned["state"] == state, "state round-trips"
    assert returned["iss"] == metadata["issuer"], "RFC 9207: iss is the issuer"
    assert "error" not in returned, returned
    # authlib checks `state` itself too (MismatchingStateException otherwise).
    token = client.fetch_token(
        metadata["token_endpoint"], authorization_response=location, state=state, code_verifier=verifier
    )
    return token, returned


def introspect(client, metadata, token, hint):
    response = client.introspect_token(metadata["introspection_endpoint"], token=token, token_type_hint=hint)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_authlib_code_flow_with_pkce_then_refresh_rotation_and_reuse_revokes_the_grant(central, metadata, auth_method):
    partner, customer = central.new_partner(), central.new_customer()
    client = oauth_client(partner, auth_method)
    responses = record_token_responses(client)

    token, _ = authorize(client, metadata, customer)
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == ALL_SCOPES
    assert token["expires_in"] == ACCESS_TTL_S
    assert token["access_token"].count(".") == 2 and token["refresh_token"]
    exchange = responses[-1]
    assert exchange.headers["Cache-Control"] == "no-store", "RFC 6749 §5.1"
    sent = exchange.request
    body = dict(urllib.parse.parse_qsl(sent.body))
    assert body["grant_type"] == "authorization_code" and body["code_verifier"]
    if auth_method == "client_secret_basic":
        assert sent.headers["Authorization"].startswith("Basic ") and "client_secret" not in body
    else:
        assert "Authorization" not in sent.headers
        assert (body["client_id"], body["client_secret"]) == (partner.client_id, partner.client_secret)

    live = introspect(client, metadata, token["access_token"], "access_token")
    assert live["active"] is True, live
    assert (live["scope"], live["client_id"], live["aud"], live["iss"]) == (
        ALL_SCOPES,
        partner.client_id,
        partner.client_id,
        metadata["issuer"],
    )
    assert live["sub"].startswith("acct_")

    # Refresh: authlib sends the stored refresh token; the server rotates it.
    first = dict(token)
    refreshed = client.refresh_token(metadata["token_endpoint"])
    assert responses[-1].request.body and "grant_type=refresh_token" in responses[-1].request.body
    assert refreshed["refresh_token"] != first["refresh_token"], "the refresh token rotated"
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed["scope"] == ALL_SCOPES
    assert introspect(client, metadata, first["refresh_token"], "refresh_token")["active"] is False
    assert introspect(client, metadata, refreshed["refresh_token"], "refresh_token")["active"] is True
    latest_access, latest_refresh = refreshed["access_token"], refreshed["refresh_token"]
    assert introspect(client, metadata, latest_access, "access_token")["active"] is True

    # Presenting the spent refresh token again: invalid_grant, and the whole grant is revoked.
    with pytest.raises(OAuthError) as reused:
        client.refresh_token(metadata["token_endpoint"], refresh_token=first["refresh_token"])
    assert reused.value.error == "invalid_grant", reused.value
    assert introspect(client, metadata, latest_access, "access_token") == {"active": False}
    assert introspect(client, metadata, latest_refresh, "refresh_token") == {"active": False}
    with pytest.raises(OAuthError) as after:
        client.refresh_token(metadata["token_endpoint"], refresh_token=latest_refresh)
    assert after.value.error == "invalid_grant", after.value
    grants = central.api_ok("GET", "/api/v1/me/grants", token=central.customer_session(customer))["items"]
    assert [(g["company_id"], g["status"]) for g in grants] == [(partner.client_id, "revoked")]


def test_authlib_exchange_with_the_wrong_pkce_verifier_is_refused(central, metadata):
    partner, customer = central.new_partner(), central.new_customer()
    client = oauth_client(partner, "client_secret_basic")
    url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=generate_token(64))
    location = consent(url, customer)
    with pytest.raises(OAuthError) as refused:
        client.fetch_token(
            metadata["token_endpoint"], authorization_response=location, state=state, code_verifier=generate_token(64)
        )
    assert refused.value.error == "invalid_grant", refused.value


def test_authlib_revokes_an_access_token_rfc7009(central, metadata):
    partner, customer = central.new_partner(), central.new_customer()
    client = oauth_client(partner, "client_secret_post")
    token, _ = authorize(client, metadata, customer)
    response = client.revoke_token(
        metadata["revocation_endpoint"], token=token["access_token"], token_type_hint="access_token"
    )
    assert response.status_code == 200, response.text
    assert introspect(client, metadata, token["access_token"], "access_token") == {"active": False}
    check = central.api("GET", "/api/v1/authorize?scope=check", token=token["access_token"])
    assert check.status_code == 401, check.text
    # The refresh token of the grant still works: only that access token was revoked.
    refreshed = client.refresh_token(metadata["token_endpoint"])
    assert introspect(client, metadata, refreshed["access_token"], "access_token")["active"] is True


def b64url_json(segment):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def b64url_encode(obj):
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_pyjwt_verifies_the_access_token_through_the_published_jwks(central, metadata):
    partner, other, customer = central.new_partner(), central.new_partner(), central.new_customer()
    client = oauth_client(partner, "client_secret_basic")
    token, _ = authorize(client, metadata, customer, grant={"check", "charge"})
    access = token["access_token"]
    assert token["scope"] == "check charge", "the narrowed consent"

    # The JWK set: Ed25519 public keys only (RFC 8037), never the private part.
    jwks = requests.get(metadata["jwks_uri"], timeout=TIMEOUT)
    assert jwks.status_code == 200, jwks.text
    keys = jwks.json()["keys"]
    assert keys, jwks.text
    for key in keys:
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig"), key
        assert key["kid"] and key["x"] and "d" not in key, key

    header = jwt.get_unverified_header(access)
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": header["kid"]}, header
    assert header["kid"] in {key["kid"] for key in keys}

    jwks_client = jwt.PyJWKClient(metadata["jwks_uri"], timeout=TIMEOUT)
    signing_key = jwks_client.get_signing_key_from_jwt(access)
    assert signing_key.key_id == header["kid"]
    required = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]
    claims = jwt.decode(
        access,
        signing_key.key,
        algorithms=["EdDSA"],
        audience=partner.client_id,
        issuer=metadata["issuer"],
        options={"require": required},
    )
    assert claims["iss"] == metadata["issuer"] == central.base
    assert claims["sub"].startswith("acct_")
    assert claims["aud"] == claims["client_id"] == partner.client_id
    assert claims["scope"] == "check charge"
    assert claims["grant"].startswith("grt_")
    assert claims["nbf"] == claims["iat"] and claims["exp"] - claims["iat"] == ACCESS_TTL_S
    assert abs(claims["iat"] - time.time()) < 60
    assert isinstance(claims["jti"], str) and claims["jti"]

    # The same account as the server's own permission check and introspection report.
    check = central.api_ok("GET", "/api/v1/authorize?scope=charge", token=access)
    assert check["account_id"] == claims["sub"]
    assert introspect(client, metadata, access, "access_token")["sub"] == claims["sub"]

    # Rejections: another company's audience, another issuer, a modified payload.
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(access, signing_key.key, algorithms=["EdDSA"], audience=other.client_id, issuer=metadata["issuer"])
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(
            access, signing_key.key, algorithms=["EdDSA"], audience=partner.client_id, issuer="http://127.0.0.1:1"
        )
    head, payload, signature = access.split(".")
    widened = dict(b64url_json(payload), scope=ALL_SCOPES)
    forged = ".".join([head, b64url_encode(widened), signature])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, signing_key.key, algorithms=["EdDSA"], audience=partner.client_id, issuer=metadata["issuer"])
    assert introspect(client, metadata, forged, "access_token") == {"active": False}


def test_rfc8414_metadata_names_the_endpoints_and_passes_authlib_validation(central, metadata):
    base = central.base
    assert metadata["issuer"] == base
    assert metadata["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert metadata["token_endpoint"] == f"{base}/oauth/token"
    assert metadata["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert metadata["introspection_endpoint"] == f"{base}/oauth/introspect"
    assert metadata["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert set(metadata["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert metadata["authorization_response_iss_parameter_supported"] is True, "RFC 9207"
    # authlib's own RFC 8414 checks of every registered field (raises ValueError on a violation).
    AuthorizationServerMetadata(metadata).validate()
