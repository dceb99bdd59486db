//! The SMTP mail backend (lettre). `--smtp-url` takes lettre's forms: `smtp://host:port` (plain,
//! for a relay on the same host), `smtp://host:port?tls=required` (STARTTLS), `smtps://host:port`
//! (implicit TLS), each with optional `user:password@` credentials.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::central::mail::{Mail, MailError, MailFuture, Mailer};

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry credentials: never printed.
        f.debug_struct("SmtpMailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("invalid --smtp-url: {e}"))?
            .build();
        let from: Mailbox = from.parse().map_err(|e| anyhow::anyhow!("invalid --mail-from {from:?}: {e}"))?;
        Ok(SmtpMailer { transport, from })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: Mail) -> MailFuture<'_> {
        Box::pin(async move {
            let to: Mailbox = mail.to.as_str().parse().map_err(|e| MailError(format!("bad recipient: {e}")))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject)
                .body(mail.body)
                .map_err(|e| MailError(e.to_string()))?;
            self.transport.send(message).await.map_err(|e| MailError(e.to_string()))?;
            Ok(())
        })
    }
}
