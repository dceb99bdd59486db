"""Direct users: a company opens a PROTUS wallet for one of its own users (DESIGN §5.1), through
the sidecar, which adds the company's credentials — the app holds no secret."""

from .client import call, new_idempotency_key


def create_direct_user(email, username, idempotency_key=None, sidecar_url=None):
    """Get-or-create the person's unclaimed customer, wallet, account and full-scope grant →
    {account_id, grant_id, access_token, token_type, expires_in, scope}.

    Raises `ProtusError` 409 `customer_exists` when the email belongs to a registered person (they
    must use "Sign in with PROTUS"). Keep `account_id` on your user; the wallet can pay once the
    person has claimed it through the mailed link.
    """
    return call(
        "POST",
        "/api/v1/direct-users",
        body={"email": email, "username": username},
        idempotency_key=idempotency_key or new_idempotency_key(),
        base_url=sidecar_url,
    )
