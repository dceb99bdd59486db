//! The admin unix socket (`<data-dir>/admin.sock`, owner-only): lets `protus central verify`,
//! `rotate-key` and `backup` run against a live central, since redb lets one process open the
//! database at a time.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::central::keyring;
use crate::central::state::SharedState;
use crate::storage::central::backup::{self, BackupReport};
use crate::storage::central::verify::{VerifyReport, verify};
use crate::vocab::limits::admin_line_bytes_max;
use crate::vocab::limits::token_ttl_s_max;

pub const ADMIN_SOCKET_FILE: &str = "admin.sock";

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ADMIN_SOCKET_FILE)
}

/// Binds the socket, replacing a stale one (the database lock already proved no other central
/// runs on this data dir), readable and writable by the owner only.
pub fn bind(data_dir: &Path) -> std::io::Result<UnixListener> {
    let path = socket_path(data_dir);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Answers admin commands until the task is dropped.
pub async fn serve(listener: UnixListener, state: SharedState) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(error = %error, "admin socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(error) = answer(stream, state).await {
                tracing::warn!(error = %error, "admin connection failed");
            }
        });
    }
}

async fn answer(stream: UnixStream, state: SharedState) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(admin_line_bytes_max as u64));
    reader.read_line(&mut line).await?;
    let reply = match line.trim() {
        "verify" => match state.store.read(verify).await {
            Ok(report) => serde_json::to_string(&report).unwrap_or_default(),
            Err(error) => serde_json::json!({ "error": error.to_string() }).to_string(),
        },
        "rotate-key" => {
            let now = state.now();
            let rotated = keyring::rotate(&state.store, now, state.oauth.key_prepublish_s, token_ttl_s_max).await;
            let reloaded = match rotated {
                Ok(record) => state.keyring.reload(&state.store, now).await.map(|()| record),
                Err(error) => Err(error),
            };
            match reloaded {
                Ok(record) => {
                    tracing::info!(kid = %record.kid, signs_from = %record.signs_from, "signing key rotated");
                    serde_json::json!({ "kid": record.kid, "signs_from": record.signs_from.to_rfc3339() }).to_string()
                }
                Err(error) => serde_json::json!({ "error": error.to_string() }).to_string(),
            }
        }
        command if command.starts_with("backup ") => {
            let to = PathBuf::from(&command["backup ".len()..]);
            match state.store.read(move |reader| Ok(backup::write_copy(reader, &to))).await {
                Ok(Ok(report)) => {
                    tracing::info!(path = %report.path, rows = report.rows, bytes = report.bytes, "backup written");
                    serde_json::to_string(&report).unwrap_or_default()
                }
                Ok(Err(error)) => serde_json::json!({ "error": error.to_string() }).to_string(),
                Err(error) => serde_json::json!({ "error": error.to_string() }).to_string(),
            }
        }
        other => serde_json::json!({ "error": format!("unknown admin command {other:?}") }).to_string(),
    };
    write.write_all(reply.as_bytes()).await?;
    write.write_all(b"\n").await?;
    write.shutdown().await
}

/// Asks a running central to verify. `Ok(None)` when no central answers on the socket.
pub async fn request_verify(data_dir: &Path) -> std::io::Result<Option<Result<VerifyReport, String>>> {
    let mut stream = match UnixStream::connect(socket_path(data_dir)).await {
        Ok(stream) => stream,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    stream.write_all(b"verify\n").await?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await?;
    if let Ok(report) = serde_json::from_str::<VerifyReport>(&line) {
        return Ok(Some(Ok(report)));
    }
    let error = serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| format!("unexpected answer from the admin socket: {line:?}"));
    Ok(Some(Err(error)))
}

/// Asks a running central to rotate its signing key. `Ok(None)` when no central answers.
pub async fn request_rotate_key(data_dir: &Path) -> std::io::Result<Option<Result<serde_json::Value, String>>> {
    let mut stream = match UnixStream::connect(socket_path(data_dir)).await {
        Ok(stream) => stream,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    stream.write_all(b"rotate-key\n").await?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await?;
    let answer: serde_json::Value = serde_json::from_str(&line).map_err(std::io::Error::other)?;
    Ok(Some(match answer.get("error").and_then(|e| e.as_str()) {
        Some(error) => Err(error.to_owned()),
        None => Ok(answer),
    }))
}

/// Asks a running central to write a backup to `to` (absolute, one line). `Ok(None)` when no
/// central answers on the socket.
pub async fn request_backup(data_dir: &Path, to: &Path) -> std::io::Result<Option<Result<BackupReport, String>>> {
    let to = to.to_str().filter(|t| !t.contains('\n')).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the backup path must be UTF-8 without a newline")
    })?;
    let mut stream = match UnixStream::connect(socket_path(data_dir)).await {
        Ok(stream) => stream,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    stream.write_all(format!("backup {to}\n").as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await?;
    if let Ok(report) = serde_json::from_str::<BackupReport>(&line) {
        return Ok(Some(Ok(report)));
    }
    let error = serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| format!("unexpected answer from the admin socket: {line:?}"));
    Ok(Some(Err(error)))
}
