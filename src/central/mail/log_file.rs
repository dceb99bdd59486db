//! The `log` mail backend: appends each message to `<data-dir>/mail.log` (owner-only) and logs
//! one line without the body, so one-time links never reach the process log.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::central::mail::{Mail, MailError, MailFuture, Mailer};

#[derive(Debug)]
pub struct LogFileMailer {
    path: PathBuf,
}

impl LogFileMailer {
    pub fn new(path: PathBuf) -> Self {
        LogFileMailer { path }
    }
}

impl Mailer for LogFileMailer {
    fn send(&self, mail: Mail) -> MailFuture<'_> {
        let path = self.path.clone();
        Box::pin(async move {
            let to = mail.to.as_str().to_owned();
            let subject = mail.subject.clone();
            let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                let mut file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&path)?;
                writeln!(file, "To: {}\nSubject: {}\n\n{}\n----", mail.to.as_str(), mail.subject, mail.body)?;
                file.sync_data()
            })
            .await
            .map_err(|e| MailError(e.to_string()))?;
            written.map_err(|e| MailError(e.to_string()))?;
            tracing::info!(to = %to, subject = %subject, "mail written to mail.log");
            Ok(())
        })
    }
}
