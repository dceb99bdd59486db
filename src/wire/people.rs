//! Customers, wallets and sessions on the wire.

use serde::{Deserialize, Serialize};

use crate::wire::secret_text::SecretText;

use crate::domain::ledger::WalletBalances;
use crate::storage::central::records::{AccountRecord, CustomerRecord};
use crate::vocab::money::Currency;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCustomer {
    pub email: String,
    pub username: String,
    pub password: SecretText,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Wallet {
    pub currency: String,
    #[schema(example = "100.00")]
    pub available: String,
    pub held: String,
    pub leased: String,
    pub debt: String,
}

impl Wallet {
    pub fn from_balances(w: &WalletBalances, currency: Currency) -> Self {
        Wallet {
            currency: currency.code().to_owned(),
            available: w.available.to_wire(currency),
            held: w.held.to_wire(currency),
            leased: w.leased.to_wire(currency),
            debt: w.debt.to_wire(currency),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: String,
    pub email: String,
    pub username: String,
    pub wallet: Wallet,
}

impl Customer {
    pub fn from_record(c: &CustomerRecord, wallet: &WalletBalances, currency: Currency) -> Self {
        Customer {
            id: c.id.to_string(),
            email: c.email.as_str().to_owned(),
            username: c.username.as_str().to_owned(),
            wallet: Wallet::from_balances(wallet, currency),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionKindWire {
    Customer,
    Company,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    pub kind: SessionKindWire,
    pub email: String,
    pub password: SecretText,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    pub token: SecretText,
    pub expires_at: String,
}

/// account `{id, company_id, company_name, customer_email, customer_username, created_at, paid_total}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    pub id: String,
    pub company_id: String,
    pub company_name: String,
    pub customer_email: String,
    pub customer_username: String,
    pub created_at: String,
    pub paid_total: String,
}

impl Account {
    pub fn from_record(a: &AccountRecord, company_name: &str, customer: &CustomerRecord, currency: Currency) -> Self {
        Account {
            id: a.id.to_string(),
            company_id: a.company_id.to_string(),
            company_name: company_name.to_owned(),
            customer_email: customer.email.as_str().to_owned(),
            customer_username: customer.username.as_str().to_owned(),
            created_at: a.created_at.to_rfc3339(),
            paid_total: a.paid_total.to_wire(currency),
        }
    }
}
