//! The OAuth and claim pages as compile-time checked askama templates (`templates/oauth/`).

use askama::Template;

use crate::central::web::i18n::{Lang, Text};
use crate::domain::token::scope::{Scope, ScopeSet};

/// One checkbox of the consent form.
#[derive(Debug, Clone)]
pub struct ScopeBox {
    pub name: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

#[derive(Debug, Template)]
#[template(path = "oauth/consent.html")]
pub struct ConsentPage {
    pub lang: &'static str,
    pub title: &'static str,
    pub lead: &'static str,
    pub sign_in_lead: &'static str,
    pub email_label: &'static str,
    pub password_label: &'static str,
    pub signed_in_as: &'static str,
    pub cap_label: &'static str,
    pub cap_hint: &'static str,
    pub allow: &'static str,
    pub deny: &'static str,
    pub company_name: String,
    pub request_id: String,
    pub csrf_token: String,
    /// Empty when nobody is signed in: the form then asks for email and password.
    pub signed_in_email: String,
    pub email: String,
    pub scopes: Vec<ScopeBox>,
    pub spending_cap: String,
    pub error: String,
}

/// What a consent page shows besides its fixed texts.
#[derive(Debug, Clone, Default)]
pub struct ConsentView {
    pub company_name: String,
    pub request_id: String,
    pub csrf_token: String,
    pub signed_in_email: String,
    pub email: String,
    pub requested: ScopeSet,
    pub checked: ScopeSet,
    pub spending_cap: String,
    pub error: String,
}

fn scope_label(lang: Lang, scope: Scope) -> &'static str {
    lang.t(match scope {
        Scope::Check => Text::ScopeCheck,
        Scope::Hold => Text::ScopeHold,
        Scope::Charge => Text::ScopeCharge,
    })
}

impl ConsentPage {
    pub fn new(lang: Lang, view: ConsentView) -> Self {
        let scopes = view
            .requested
            .iter()
            .map(|scope| ScopeBox {
                name: scope.as_str(),
                label: scope_label(lang, scope),
                checked: view.checked.contains(scope),
            })
            .collect();
        ConsentPage {
            lang: lang.code(),
            title: lang.t(Text::ConsentTitle),
            lead: lang.t(Text::ConsentLead),
            sign_in_lead: lang.t(Text::SignInLead),
            email_label: lang.t(Text::Email),
            password_label: lang.t(Text::Password),
            signed_in_as: lang.t(Text::SignedInAs),
            cap_label: lang.t(Text::SpendingCap),
            cap_hint: lang.t(Text::SpendingCapHint),
            allow: lang.t(Text::Allow),
            deny: lang.t(Text::Deny),
            company_name: view.company_name,
            request_id: view.request_id,
            csrf_token: view.csrf_token,
            signed_in_email: view.signed_in_email,
            email: view.email,
            scopes,
            spending_cap: view.spending_cap,
            error: view.error,
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "oauth/error.html")]
pub struct ErrorPage {
    pub lang: &'static str,
    pub title: &'static str,
    pub message: &'static str,
}

impl ErrorPage {
    pub fn new(lang: Lang, message: Text) -> Self {
        ErrorPage { lang: lang.code(), title: lang.t(Text::ErrorTitle), message: lang.t(message) }
    }
}

#[derive(Debug, Template)]
#[template(path = "oauth/claim.html")]
pub struct ClaimPage {
    pub lang: &'static str,
    pub title: &'static str,
    pub lead: &'static str,
    pub password_label: &'static str,
    pub button: &'static str,
    pub token: String,
    pub csrf_token: String,
    pub error: String,
    /// Non-empty once the claim succeeded.
    pub done: &'static str,
}

impl ClaimPage {
    pub fn new(lang: Lang, token: String, csrf_token: String, error: String, done: bool) -> Self {
        ClaimPage {
            lang: lang.code(),
            title: lang.t(Text::ClaimTitle),
            lead: lang.t(Text::ClaimLead),
            password_label: lang.t(Text::NewPassword),
            button: lang.t(Text::ClaimButton),
            token,
            csrf_token,
            error,
            done: if done { lang.t(Text::Claimed) } else { "" },
        }
    }
}
