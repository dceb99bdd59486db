//! The server-rendered web side of central: language, cookies, CSRF tokens and page templates.

pub mod i18n;
pub mod cookies;
pub mod csrf;
pub mod pages;
pub mod html;
