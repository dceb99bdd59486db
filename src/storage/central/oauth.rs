//! OAuth state at central: pending authorization requests, single-use codes, rotating refresh
//! tokens with reuse detection, and revoked access-token ids.

use redb::ReadableTable;

use crate::domain::pkce;
use crate::domain::token::scope::ScopeSet;
use crate::storage::central::changes::record_change;
use crate::storage::central::grants;
use crate::storage::central::oauth_records::{
    AuthRequestRecord, Change, CodeRecord, GrantRecord, GrantStatus, IssuedTokens, RefreshFamilyRecord, RefreshRecord,
};
use crate::storage::central::open::{get_record, put_record};
use crate::storage::schema::{AUTH_CODES, AUTH_REQUESTS, REFRESH_FAMILIES, REFRESH_TOKENS, REVOKED_TOKENS};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::CompanyId;
use crate::vocab::time::Timestamp;

pub fn save_request(tx: &mut Tx<'_>, request: &AuthRequestRecord) -> Result<(), StoreError> {
    put_record(&mut tx.txn().open_table(AUTH_REQUESTS)?, &request.id, request)
}

/// The pending request, if it exists and has not expired at `now`.
pub fn get_request(reader: &Reader, id: &str, now: Timestamp) -> Result<Option<AuthRequestRecord>, StoreError> {
    let request: Option<AuthRequestRecord> = get_record(&reader.txn.open_table(AUTH_REQUESTS)?, "auth_requests", id)?;
    Ok(request.filter(|r| r.expires_at > now))
}

/// Takes the pending request out (it is answered once).
pub fn take_request(tx: &mut Tx<'_>, id: &str, now: Timestamp) -> Result<Option<AuthRequestRecord>, StoreError> {
    let request: Option<AuthRequestRecord> = get_record(&tx.txn().open_table(AUTH_REQUESTS)?, "auth_requests", id)?;
    let Some(request) = request.filter(|r| r.expires_at > now) else { return Ok(None) };
    tx.txn().open_table(AUTH_REQUESTS)?.remove(id)?;
    Ok(Some(request))
}

pub fn save_code(tx: &mut Tx<'_>, code_hash: &str, code: &CodeRecord) -> Result<(), StoreError> {
    put_record(&mut tx.txn().open_table(AUTH_CODES)?, code_hash, code)
}

/// Why a code or refresh token was not honoured (RFC 6749 `invalid_grant`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefusal {
    #[error("the code or refresh token is unknown, expired or for another client")]
    Unknown,
    #[error("the redirect_uri does not match the authorization request")]
    RedirectMismatch,
    #[error("the code_verifier does not match the code_challenge")]
    PkceMismatch,
    #[error("the grant behind this token is no longer active")]
    GrantInactive,
    #[error("this code was already used; the tokens it issued are revoked")]
    CodeReused,
    #[error("this refresh token was already used; the whole grant is revoked")]
    RefreshReused,
    #[error("a refresh can only narrow the scope the token was granted")]
    ScopeWidened,
}

/// A new refresh token to store when a code or refresh token is honoured.
#[derive(Debug, Clone)]
pub struct NewRefresh {
    pub hash: String,
    pub expires_at: Timestamp,
}

fn revoke_family(tx: &mut Tx<'_>, family: &str, now: Timestamp) -> Result<(), StoreError> {
    let mut families = tx.txn().open_table(REFRESH_FAMILIES)?;
    let record: Option<RefreshFamilyRecord> = get_record(&families, "refresh_families", family)?;
    if let Some(mut record) = record.filter(|r| r.revoked_at.is_none()) {
        record.revoked_at = Some(now);
        put_record(&mut families, family, &record)?;
    }
    Ok(())
}

fn store_refresh(
    tx: &mut Tx<'_>,
    new: &NewRefresh,
    family: &str,
    grant: &GrantRecord,
    scope: ScopeSet,
    now: Timestamp,
) -> Result<(), StoreError> {
    let record = RefreshRecord {
        family: family.to_owned(),
        grant_id: grant.id.clone(),
        company_id: grant.company_id.clone(),
        scope,
        created_at: now,
        expires_at: new.expires_at,
        rotated_at: None,
    };
    put_record(&mut tx.txn().open_table(REFRESH_TOKENS)?, &new.hash, &record)
}

/// Exchanges a code (RFC 6749 §4.1.3 with PKCE). Single use: a second exchange revokes what the
/// first issued. `issue` mints the tokens for the grant and the effective scope (code scope ∩
/// grant scope) and says what it issued, which is recorded in the same transaction.
#[allow(clippy::too_many_arguments)] // one call site; the parameters are the RFC's
pub fn redeem_code<T>(
    tx: &mut Tx<'_>,
    code_hash: &str,
    company: &CompanyId,
    redirect_uri: &str,
    verifier: &str,
    refresh: &NewRefresh,
    now: Timestamp,
    issue: impl FnOnce(&GrantRecord, ScopeSet) -> Option<(IssuedTokens, T)>,
) -> Result<Result<(GrantRecord, T), GrantRefusal>, StoreError> {
    let code: Option<CodeRecord> = get_record(&tx.txn().open_table(AUTH_CODES)?, "auth_codes", code_hash)?;
    let Some(mut code) = code.filter(|c| &c.company_id == company) else { return Ok(Err(GrantRefusal::Unknown)) };
    if let Some(first) = &code.issued {
        revoke_jti(tx, Some(company), &first.jti, first.access_expires_at, now)?;
        revoke_family(tx, &first.refresh_family, now)?;
        return Ok(Err(GrantRefusal::CodeReused));
    }
    if code.expires_at <= now {
        return Ok(Err(GrantRefusal::Unknown));
    }
    if code.redirect_uri != redirect_uri {
        return Ok(Err(GrantRefusal::RedirectMismatch));
    }
    if !pkce::verify_s256(verifier, &code.code_challenge) {
        return Ok(Err(GrantRefusal::PkceMismatch));
    }
    let Some(grant) = grants::get_in_tx(tx, &code.grant_id)?.filter(|g| g.status == GrantStatus::Active) else {
        return Ok(Err(GrantRefusal::GrantInactive));
    };
    let scope = code.scope.intersection(grant.scope);
    let Some((issued, minted)) = issue(&grant, scope) else { return Ok(Err(GrantRefusal::GrantInactive)) };
    let family = issued.refresh_family.clone();
    put_record(
        &mut tx.txn().open_table(REFRESH_FAMILIES)?,
        &family,
        &RefreshFamilyRecord { grant_id: grant.id.clone(), revoked_at: None },
    )?;
    store_refresh(tx, refresh, &family, &grant, scope, now)?;
    code.issued = Some(issued);
    save_code(tx, code_hash, &code)?;
    Ok(Ok((grant, minted)))
}

/// Rotates a refresh token (RFC 9700 §4.14): the old one is spent, a new one of the same family
/// is stored. Presenting a spent token again revokes the whole grant.
pub fn rotate_refresh(
    tx: &mut Tx<'_>,
    old_hash: &str,
    company: &CompanyId,
    new: &NewRefresh,
    narrow: Option<ScopeSet>,
    now: Timestamp,
) -> Result<Result<(GrantRecord, ScopeSet), GrantRefusal>, StoreError> {
    let old: Option<RefreshRecord> = get_record(&tx.txn().open_table(REFRESH_TOKENS)?, "refresh_tokens", old_hash)?;
    let Some(mut old) = old.filter(|r| &r.company_id == company) else { return Ok(Err(GrantRefusal::Unknown)) };
    let family: Option<RefreshFamilyRecord> =
        get_record(&tx.txn().open_table(REFRESH_FAMILIES)?, "refresh_families", &old.family)?;
    if family.is_none_or(|f| f.revoked_at.is_some()) {
        return Ok(Err(GrantRefusal::Unknown));
    }
    if old.rotated_at.is_some() {
        revoke_family(tx, &old.family, now)?;
        // The grant may already be revoked; either way the reuse ends it.
        let _ = grants::revoke(tx, None, &old.grant_id, now)?;
        return Ok(Err(GrantRefusal::RefreshReused));
    }
    if old.expires_at <= now {
        return Ok(Err(GrantRefusal::Unknown));
    }
    let Some(grant) = grants::get_in_tx(tx, &old.grant_id)?.filter(|g| g.status == GrantStatus::Active) else {
        return Ok(Err(GrantRefusal::GrantInactive));
    };
    // Checked before anything is written, so a refused request does not spend the token.
    let mut scope = old.scope.intersection(grant.scope);
    if let Some(narrow) = narrow {
        if !narrow.is_subset_of(old.scope) {
            return Ok(Err(GrantRefusal::ScopeWidened));
        }
        scope = narrow.intersection(grant.scope);
    }
    if scope.is_empty() {
        return Ok(Err(GrantRefusal::GrantInactive));
    }
    old.rotated_at = Some(now);
    put_record(&mut tx.txn().open_table(REFRESH_TOKENS)?, old_hash, &old)?;
    store_refresh(tx, new, &old.family, &grant, old.scope, now)?;
    Ok(Ok((grant, scope)))
}

/// A refresh token as stored (for revocation and introspection).
pub fn refresh_token(reader: &Reader, hash: &str) -> Result<Option<(RefreshRecord, bool)>, StoreError> {
    let record: Option<RefreshRecord> = get_record(&reader.txn.open_table(REFRESH_TOKENS)?, "refresh_tokens", hash)?;
    let Some(record) = record else { return Ok(None) };
    let family: Option<RefreshFamilyRecord> =
        get_record(&reader.txn.open_table(REFRESH_FAMILIES)?, "refresh_families", &record.family)?;
    let family_live = family.is_some_and(|f| f.revoked_at.is_none());
    Ok(Some((record, family_live)))
}

/// Revokes a refresh token's family if it belongs to `company`; `false` when it does not.
pub fn revoke_refresh(tx: &mut Tx<'_>, company: &CompanyId, hash: &str, now: Timestamp) -> Result<bool, StoreError> {
    let record: Option<RefreshRecord> = get_record(&tx.txn().open_table(REFRESH_TOKENS)?, "refresh_tokens", hash)?;
    let Some(record) = record.filter(|r| &r.company_id == company) else { return Ok(false) };
    revoke_family(tx, &record.family, now)?;
    Ok(true)
}

/// Adds an access token's `jti` to the revocation set until its `exp`, and logs it for the feed.
pub fn revoke_jti(
    tx: &mut Tx<'_>,
    company: Option<&CompanyId>,
    jti: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut revoked = tx.txn().open_table(REVOKED_TOKENS)?;
    if revoked.get(jti)?.is_some() {
        return Ok(());
    }
    revoked.insert(jti, expires_at.unix_s())?;
    drop(revoked);
    record_change(tx, company, Change::TokenRevoked { jti: jti.to_owned(), exp: expires_at.unix_s() }, now).map(drop)
}

pub fn is_revoked(reader: &Reader, jti: &str) -> Result<bool, StoreError> {
    Ok(reader.txn.open_table(REVOKED_TOKENS)?.get(jti)?.is_some())
}

/// The grant a refresh token belongs to, as of this transaction.
pub fn grant_of_refresh(tx: &Tx<'_>, hash: &str) -> Result<Option<GrantRecord>, StoreError> {
    let record: Option<RefreshRecord> = get_record(&tx.txn().open_table(REFRESH_TOKENS)?, "refresh_tokens", hash)?;
    match record {
        Some(record) => grants::get_in_tx(tx, &record.grant_id),
        None => Ok(None),
    }
}

/// Drops what can no longer matter at `now`: revoked token ids past their `exp` (plus skew),
/// expired authorization requests and codes. Returns how many records went.
pub fn prune_expired(tx: &mut Tx<'_>, now: Timestamp) -> Result<usize, StoreError> {
    let horizon_s = now.unix_s() - crate::vocab::limits::token_clock_skew_s;
    let mut pruned = 0;
    {
        let mut revoked = tx.txn().open_table(REVOKED_TOKENS)?;
        let mut dead = Vec::new();
        for entry in revoked.iter()? {
            let (jti, exp) = entry?;
            if exp.value() < horizon_s {
                dead.push(jti.value().to_owned());
            }
        }
        for jti in &dead {
            revoked.remove(jti.as_str())?;
        }
        pruned += dead.len();
    }
    pruned += prune_table::<AuthRequestRecord>(tx, AUTH_REQUESTS, "auth_requests", |r| r.expires_at <= now)?;
    // A code is kept a day past expiry so a late replay is still recognised and revokes.
    pruned += prune_table::<CodeRecord>(tx, AUTH_CODES, "auth_codes", |c| c.expires_at.plus_s(24 * 3600) <= now)?;
    Ok(pruned)
}

fn prune_table<T: serde::de::DeserializeOwned>(
    tx: &mut Tx<'_>,
    table: redb::TableDefinition<&'static str, &'static [u8]>,
    name: &'static str,
    dead: impl Fn(&T) -> bool,
) -> Result<usize, StoreError> {
    let mut open = tx.txn().open_table(table)?;
    let mut keys = Vec::new();
    for entry in open.iter()? {
        let (key, bytes) = entry?;
        let record: T = crate::storage::codec::decode(name, bytes.value())?;
        if dead(&record) {
            keys.push(key.value().to_owned());
        }
    }
    for key in &keys {
        open.remove(key.as_str())?;
    }
    Ok(keys.len())
}
