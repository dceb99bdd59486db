//! Outgoing mail through a `Mailer` trait: the `log` backend (the default, for development) and
//! SMTP. Mail carries one-time links, so no backend writes a message body to the process log.

pub mod log_file;
pub mod smtp;

use std::future::Future;
use std::pin::Pin;

use crate::vocab::names::Email;

/// One message.
#[derive(Clone)]
pub struct Mail {
    pub to: Email,
    pub subject: String,
    pub body: String,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body carries one-time links: never printed.
        f.debug_struct("Mail").field("to", &self.to).field("subject", &self.subject).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("mail could not be sent: {0}")]
pub struct MailError(pub String);

pub type MailFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

pub trait Mailer: Send + Sync + std::fmt::Debug {
    fn send(&self, mail: Mail) -> MailFuture<'_>;
}
