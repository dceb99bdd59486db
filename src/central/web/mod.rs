//! The server-rendered web side of central: language, cookies, CSRF tokens, the OAuth and claim
//! pages, and the site for people and companies (layout, forms, charts, pages).

pub mod i18n;
pub mod cookies;
pub mod csrf;
pub mod pages;
pub mod html;
pub mod ui;
pub mod format;
pub mod browser;
pub mod layout;
pub mod forms;
pub mod chart;
pub mod public;
pub mod customer;
pub mod connected;
pub mod company;
pub mod company_lists;
pub mod site;
