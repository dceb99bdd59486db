//! Companies: registration with unique email and name, profile, secret rotation, client auth.

use redb::ReadableTable;

use crate::storage::central::TxResult;
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::{CompanyRecord, RetiredDigest, RetiredWebhookSecret};
use crate::storage::schema::{COMPANIES, COMPANY_BY_EMAIL, COMPANY_BY_NAME};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::CompanyId;
use crate::vocab::limits::secret_overlap_s;
use crate::vocab::names::{Email, HttpUrl};
use crate::vocab::secret::Secret;
use crate::vocab::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompanyRegisterError {
    #[error("a company with this email already exists")]
    EmailTaken,
    #[error("a company with this name already exists")]
    NameTaken,
}

pub fn register(tx: &mut Tx<'_>, company: CompanyRecord) -> TxResult<CompanyRecord, CompanyRegisterError> {
    let mut by_email = tx.txn().open_table(COMPANY_BY_EMAIL)?;
    let mut by_name = tx.txn().open_table(COMPANY_BY_NAME)?;
    if by_email.get(company.email.as_str())?.is_some() {
        return Ok(Err(CompanyRegisterError::EmailTaken));
    }
    let name_key = company.name.key();
    if by_name.get(name_key.as_str())?.is_some() {
        return Ok(Err(CompanyRegisterError::NameTaken));
    }
    by_email.insert(company.email.as_str(), company.id.as_str())?;
    by_name.insert(name_key.as_str(), company.id.as_str())?;
    put_record(&mut *tx.companies_table()?, company.id.as_str(), &company)?;
    Ok(Ok(company))
}

pub fn get(reader: &Reader, id: &CompanyId) -> Result<Option<CompanyRecord>, StoreError> {
    get_record(&reader.txn.open_table(COMPANIES)?, "companies", id.as_str())
}

pub fn get_in_tx(tx: &Tx<'_>, id: &CompanyId) -> Result<Option<CompanyRecord>, StoreError> {
    get_record(&*tx.companies_table()?, "companies", id.as_str())
}

/// A company's name alone, as a statement line snapshots it: the record's other fields (secret
/// digests, redirect URIs) are skipped, not decoded, on every charge.
pub fn name_in_tx(tx: &Tx<'_>, id: &CompanyId) -> Result<Option<String>, StoreError> {
    #[derive(serde::Deserialize)]
    struct NameOnly {
        name: String,
    }
    let named: Option<NameOnly> = get_record(&*tx.companies_table()?, "companies", id.as_str())?;
    Ok(named.map(|company| company.name))
}

pub fn by_email(reader: &Reader, email: &Email) -> Result<Option<CompanyRecord>, StoreError> {
    let id = reader.txn.open_table(COMPANY_BY_EMAIL)?.get(email.as_str())?.map(|v| v.value().to_owned());
    match id {
        Some(id) => get_record(&reader.txn.open_table(COMPANIES)?, "companies", &id),
        None => Ok(None),
    }
}

/// What a company may change about itself; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    /// `Some(None)` clears the webhook URL.
    pub webhook_url: Option<Option<HttpUrl>>,
    pub redirect_uris: Option<Vec<HttpUrl>>,
}

/// Applies `change`; `None` if the company does not exist.
pub fn update_profile(
    tx: &mut Tx<'_>,
    id: &CompanyId,
    change: ProfileChange,
) -> Result<Option<CompanyRecord>, StoreError> {
    let Some(mut company) = get_in_tx(tx, id)? else { return Ok(None) };
    if let Some(url) = change.webhook_url {
        company.webhook_url = url;
    }
    if let Some(uris) = change.redirect_uris {
        company.redirect_uris = uris;
    }
    put_record(&mut *tx.companies_table()?, id.as_str(), &company)?;
    Ok(Some(company))
}

/// Which secret to rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Client,
    Webhook,
}

/// Installs `new` as the current secret; the old one keeps working for `secret_overlap_s`.
pub fn rotate_secret(
    tx: &mut Tx<'_>,
    id: &CompanyId,
    kind: SecretKind,
    new: &Secret,
    now: Timestamp,
) -> Result<Option<CompanyRecord>, StoreError> {
    let Some(mut company) = get_in_tx(tx, id)? else { return Ok(None) };
    let until = now.plus_s(secret_overlap_s);
    // Every rotated-out secret keeps its own 24 h, however often the company rotates.
    match kind {
        SecretKind::Client => {
            company.client_secret_previous.retain(|p| p.until > now);
            company.client_secret_previous.push(RetiredDigest { digest: company.client_secret, until });
            company.client_secret = new.digest();
        }
        SecretKind::Webhook => {
            let old = std::mem::replace(&mut company.webhook_secret, new.expose().to_owned());
            company.webhook_secret_previous.retain(|p| p.until > now);
            company.webhook_secret_previous.push(RetiredWebhookSecret { secret: old, until });
        }
    }
    put_record(&mut *tx.companies_table()?, id.as_str(), &company)?;
    Ok(Some(company))
}

/// The company whose `client_id` and `client_secret` these are (current secret, or the
/// previous one inside its overlap), compared in constant time.
pub fn authenticate_client(
    reader: &Reader,
    client_id: &str,
    secret: &Secret,
    now: Timestamp,
) -> Result<Option<CompanyRecord>, StoreError> {
    let Ok(id) = CompanyId::parse(client_id) else { return Ok(None) };
    let Some(company) = get(reader, &id)? else { return Ok(None) };
    // Every candidate is compared, so timing does not tell which one matched.
    let current = company.client_secret.matches(secret);
    let previous =
        company.client_secret_previous.iter().fold(false, |hit, p| hit | (p.until > now && p.digest.matches(secret)));
    Ok((current | previous).then_some(company))
}
