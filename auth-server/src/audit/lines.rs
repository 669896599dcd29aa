//! The optional JSON-lines sink: one line per event, `{"seq":…,"at":…,"hash":…,"event":{…}}`,
//! appended to a file or written to standard output.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use mcp_auth_core::store::AuditRow;

/// Where the JSON lines go.
#[derive(Debug)]
pub enum JsonLines {
    /// Standard output (`[audit] file = "-"` or `"stdout"`).
    Stdout,
    /// A file, opened for appending at each write (so log rotation by renaming works).
    File(PathBuf, Mutex<()>),
}

impl JsonLines {
    /// The sink named by `[audit] file`: `-` or `stdout` is standard output, anything else a
    /// file path.
    pub fn from_setting(file: &str) -> Self {
        match file {
            "-" | "stdout" => Self::Stdout,
            path => Self::File(PathBuf::from(path), Mutex::new(())),
        }
    }

    /// Write `row` as one line.
    ///
    /// # Errors
    /// The file cannot be opened or written.
    pub fn write(&self, row: &AuditRow) -> std::io::Result<()> {
        let event: serde_json::Value =
            serde_json::from_str(&row.data).unwrap_or(serde_json::Value::Null);
        let line = serde_json::json!({
            "seq": row.seq,
            "at": row.at,
            "hash": row.hash,
            "event": event,
        })
        .to_string();
        match self {
            Self::Stdout => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")
            }
            Self::File(path, lock) => {
                let _guard = lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                writeln!(f, "{line}")
            }
        }
    }
}
