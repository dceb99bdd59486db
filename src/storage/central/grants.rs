//! Grants: a customer's consent to a company (scopes, spending cap, status), created or updated
//! by consent, narrowed, confirmed or revoked by the person. Every change is logged for the feed;
//! a revocation or suspension also recalls the account's leases (DESIGN §7).

use redb::ReadableTable;

use crate::domain::token::scope::ScopeSet;
use crate::storage::central::TxResult;
use crate::storage::central::changes::record_change;
use crate::storage::central::oauth_records::{Change, GrantOrigin, GrantRecord, GrantStatus};
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::AccountRecord;
use crate::storage::central::{accounts, leases};
use crate::storage::pages::{Page, page_desc};
use crate::storage::schema::{GRANT_BY_PAIR, GRANTS, GRANTS_BY_COMPANY, GRANTS_BY_CUSTOMER};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{CompanyId, CustomerId, GrantId};
use crate::vocab::money::Amount;
use crate::vocab::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("grant not found")]
    NotFound,
    #[error("a grant can only be narrowed here; to add scopes, sign in again through the company")]
    Widening,
    #[error("at least one scope must remain; revoke the grant instead")]
    EmptyScope,
    #[error("the grant is revoked")]
    Revoked,
}

/// What a consent did.
#[derive(Debug, Clone)]
pub struct Consented {
    pub grant: GrantRecord,
    pub account: AccountRecord,
    pub account_created: bool,
    pub grant_created: bool,
}

fn log_grant(tx: &mut Tx<'_>, grant: &GrantRecord, now: Timestamp) -> Result<(), StoreError> {
    let change = Change::Grant {
        grant_id: grant.id.clone(),
        account_id: grant.account_id.clone(),
        scope: grant.scope,
        spending_cap: grant.spending_cap,
        status: grant.status,
    };
    record_change(tx, Some(&grant.company_id), change, now).map(drop)
}

fn save(tx: &mut Tx<'_>, grant: &GrantRecord) -> Result<(), StoreError> {
    put_record(&mut *tx.grants_table()?, grant.id.as_str(), grant)
}

/// The pair's current (active or suspended) grant.
pub fn current_in_tx(
    tx: &Tx<'_>,
    company: &CompanyId,
    customer: &CustomerId,
) -> Result<Option<GrantRecord>, StoreError> {
    let id =
        tx.txn().open_table(GRANT_BY_PAIR)?.get((company.as_str(), customer.as_str()))?.map(|v| v.value().to_owned());
    match id {
        Some(id) => get_record(&*tx.grants_table()?, "grants", &id),
        None => Ok(None),
    }
}

/// Creates the pair's grant (and account), or replaces the scopes and cap of its current one.
/// A consent on the authorization page also confirms a suspended grant.
pub fn consent(
    tx: &mut Tx<'_>,
    company: &CompanyId,
    customer: &CustomerId,
    scope: ScopeSet,
    spending_cap: Option<Amount>,
    origin: GrantOrigin,
    now: Timestamp,
) -> Result<Consented, StoreError> {
    assert!(!scope.is_empty(), "a consent grants at least one scope");
    let (account, account_created) = accounts::ensure(tx, company, customer, now)?;
    let (grant, grant_created) = match current_in_tx(tx, company, customer)? {
        Some(mut grant) => {
            grant.scope = scope;
            grant.spending_cap = spending_cap;
            if origin == GrantOrigin::Consent {
                grant.status = GrantStatus::Active;
            }
            grant.updated_at = now;
            (grant, false)
        }
        None => {
            let grant = GrantRecord {
                id: GrantId::generate(),
                company_id: company.clone(),
                customer_id: customer.clone(),
                account_id: account.id.clone(),
                scope,
                spending_cap,
                status: GrantStatus::Active,
                origin,
                created_at: now,
                updated_at: now,
                revoked_at: None,
            };
            tx.txn().open_table(GRANT_BY_PAIR)?.insert((company.as_str(), customer.as_str()), grant.id.as_str())?;
            let seq = tx.next("seq")?;
            tx.txn().open_table(GRANTS_BY_CUSTOMER)?.insert((customer.as_str(), seq), grant.id.as_str())?;
            tx.txn().open_table(GRANTS_BY_COMPANY)?.insert((company.as_str(), seq), grant.id.as_str())?;
            (grant, true)
        }
    };
    save(tx, &grant)?;
    log_grant(tx, &grant, now)?;
    Ok(Consented { grant, account, account_created, grant_created })
}

pub fn get(reader: &Reader, id: &GrantId) -> Result<Option<GrantRecord>, StoreError> {
    get_record(&reader.txn.open_table(GRANTS)?, "grants", id.as_str())
}

pub fn get_in_tx(tx: &Tx<'_>, id: &GrantId) -> Result<Option<GrantRecord>, StoreError> {
    get_record(&*tx.grants_table()?, "grants", id.as_str())
}

pub fn list_for_customer(
    reader: &Reader,
    customer: &CustomerId,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Page<GrantRecord>, StoreError> {
    let grants = reader.txn.open_table(GRANTS)?;
    page_desc(&reader.txn.open_table(GRANTS_BY_CUSTOMER)?, customer.as_str(), cursor, limit, |id| {
        get_record(&grants, "grants", id)?
            .ok_or(StoreError::Corrupt { table: "grants_by_customer", detail: format!("dangling id {id}") })
    })
}

/// What the person may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct GrantChange {
    pub scope: Option<ScopeSet>,
    /// `Some(None)` removes the cap.
    pub spending_cap: Option<Option<Amount>>,
    /// Confirms a suspended grant.
    pub confirm: bool,
}

/// Applies the person's change to their grant.
pub fn update(
    tx: &mut Tx<'_>,
    customer: &CustomerId,
    id: &GrantId,
    change: GrantChange,
    now: Timestamp,
) -> TxResult<GrantRecord, GrantError> {
    let Some(mut grant) = get_in_tx(tx, id)?.filter(|g| &g.customer_id == customer) else {
        return Ok(Err(GrantError::NotFound));
    };
    if grant.status == GrantStatus::Revoked {
        return Ok(Err(GrantError::Revoked));
    }
    if let Some(scope) = change.scope {
        if scope.is_empty() {
            return Ok(Err(GrantError::EmptyScope));
        }
        if !scope.is_subset_of(grant.scope) {
            return Ok(Err(GrantError::Widening));
        }
        grant.scope = scope;
    }
    if let Some(cap) = change.spending_cap {
        grant.spending_cap = cap;
    }
    if change.confirm {
        grant.status = GrantStatus::Active;
    }
    grant.updated_at = now;
    save(tx, &grant)?;
    log_grant(tx, &grant, now)?;
    Ok(Ok(grant))
}

/// Revokes a grant: by its customer (`Some`) or by central itself (`None`, e.g. a refresh-token
/// reuse). Consenting again later creates a new grant.
pub fn revoke(
    tx: &mut Tx<'_>,
    customer: Option<&CustomerId>,
    id: &GrantId,
    now: Timestamp,
) -> TxResult<GrantRecord, GrantError> {
    let found = get_in_tx(tx, id)?.filter(|g| customer.is_none_or(|c| &g.customer_id == c));
    let Some(mut grant) = found else { return Ok(Err(GrantError::NotFound)) };
    if grant.status == GrantStatus::Revoked {
        return Ok(Err(GrantError::Revoked));
    }
    grant.status = GrantStatus::Revoked;
    grant.revoked_at = Some(now);
    grant.updated_at = now;
    tx.txn().open_table(GRANT_BY_PAIR)?.remove((grant.company_id.as_str(), grant.customer_id.as_str()))?;
    save(tx, &grant)?;
    log_grant(tx, &grant, now)?;
    leases::recall_account(tx, &grant.account_id, now)?;
    Ok(Ok(grant))
}

/// Suspends every active grant companies created for `customer` (at claiming, DESIGN §5.1).
pub fn suspend_partner_grants(
    tx: &mut Tx<'_>,
    customer: &CustomerId,
    now: Timestamp,
) -> Result<Vec<GrantRecord>, StoreError> {
    let mut ids = Vec::new();
    for entry in
        tx.txn().open_table(GRANTS_BY_CUSTOMER)?.range((customer.as_str(), 0)..=(customer.as_str(), u64::MAX))?
    {
        let (_, id) = entry?;
        ids.push(id.value().to_owned());
    }
    let mut suspended = Vec::new();
    for id in ids {
        let grant: Option<GrantRecord> = get_record(&*tx.grants_table()?, "grants", &id)?;
        if let Some(mut grant) =
            grant.filter(|g| g.origin == GrantOrigin::DirectUser && g.status == GrantStatus::Active)
        {
            grant.status = GrantStatus::Suspended;
            grant.updated_at = now;
            save(tx, &grant)?;
            log_grant(tx, &grant, now)?;
            leases::recall_account(tx, &grant.account_id, now)?;
            suspended.push(grant);
        }
    }
    Ok(suspended)
}
