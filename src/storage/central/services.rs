//! A company's priced services: create, list, rename, reprice, (de)activate.

use redb::ReadableTable;

use crate::storage::central::TxResult;
use crate::storage::central::changes::record_change;
use crate::storage::central::oauth_records::Change;
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::ServiceRecord;
use crate::storage::pages::{Page, page_desc};
use crate::storage::schema::{SERVICE_BY_NAME, SERVICES, SERVICES_BY_COMPANY};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{CompanyId, ServiceId};
use crate::vocab::money::Amount;
use crate::vocab::names::DisplayName;
use crate::vocab::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("service not found")]
    NotFound,
    #[error("a service with this name already exists")]
    NameTaken,
}

pub fn create(tx: &mut Tx<'_>, service: ServiceRecord) -> TxResult<ServiceRecord, ServiceError> {
    let name_key = service.name.key();
    let mut by_name = tx.txn().open_table(SERVICE_BY_NAME)?;
    if by_name.get((service.company_id.as_str(), name_key.as_str()))?.is_some() {
        return Ok(Err(ServiceError::NameTaken));
    }
    by_name.insert((service.company_id.as_str(), name_key.as_str()), service.id.as_str())?;
    drop(by_name);
    let seq = tx.next("seq")?;
    tx.txn().open_table(SERVICES_BY_COMPANY)?.insert((service.company_id.as_str(), seq), service.id.as_str())?;
    put_record(&mut *tx.services_table()?, service.id.as_str(), &service)?;
    log_service(tx, &service, service.created_at)?;
    Ok(Ok(service))
}

/// Logs the service as it now is, for the sidecars' feed.
fn log_service(tx: &mut Tx<'_>, service: &ServiceRecord, now: Timestamp) -> Result<(), StoreError> {
    let change = Change::Service {
        service_id: service.id.clone(),
        name: service.name.clone(),
        price: service.price,
        active: service.active,
    };
    record_change(tx, Some(&service.company_id), change, now).map(drop)
}

/// The service if it exists and belongs to `company`.
pub fn get(reader: &Reader, company: &CompanyId, id: &ServiceId) -> Result<Option<ServiceRecord>, StoreError> {
    let service: Option<ServiceRecord> = get_record(&reader.txn.open_table(SERVICES)?, "services", id.as_str())?;
    Ok(service.filter(|s| &s.company_id == company))
}

pub fn get_in_tx(tx: &Tx<'_>, company: &CompanyId, id: &ServiceId) -> Result<Option<ServiceRecord>, StoreError> {
    let service: Option<ServiceRecord> = get_record(&*tx.services_table()?, "services", id.as_str())?;
    Ok(service.filter(|s| &s.company_id == company))
}

pub fn list(
    reader: &Reader,
    company: &CompanyId,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Page<ServiceRecord>, StoreError> {
    let services = reader.txn.open_table(SERVICES)?;
    page_desc(&reader.txn.open_table(SERVICES_BY_COMPANY)?, company.as_str(), cursor, limit, |id| {
        get_record(&services, "services", id)?
            .ok_or(StoreError::Corrupt { table: "services_by_company", detail: format!("dangling id {id}") })
    })
}

/// What may change about a service; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServiceChange {
    pub name: Option<DisplayName>,
    pub price: Option<Amount>,
    pub active: Option<bool>,
}

pub fn update(
    tx: &mut Tx<'_>,
    company: &CompanyId,
    id: &ServiceId,
    change: ServiceChange,
    now: Timestamp,
) -> TxResult<ServiceRecord, ServiceError> {
    let Some(mut service) = get_in_tx(tx, company, id)? else { return Ok(Err(ServiceError::NotFound)) };
    if let Some(name) = change.name {
        let (old_key, new_key) = (service.name.key(), name.key());
        if old_key != new_key {
            let mut by_name = tx.txn().open_table(SERVICE_BY_NAME)?;
            if by_name.get((company.as_str(), new_key.as_str()))?.is_some() {
                return Ok(Err(ServiceError::NameTaken));
            }
            by_name.remove((company.as_str(), old_key.as_str()))?;
            by_name.insert((company.as_str(), new_key.as_str()), id.as_str())?;
        }
        service.name = name;
    }
    if let Some(price) = change.price {
        service.price = price;
    }
    if let Some(active) = change.active {
        service.active = active;
    }
    put_record(&mut *tx.services_table()?, id.as_str(), &service)?;
    log_service(tx, &service, now)?;
    Ok(Ok(service))
}
