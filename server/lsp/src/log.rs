//! The server's log file (`<workspace>/.acdp/lsp.log` unless `initializationOptions.logFile`
//! names another), and a panic hook that writes panics there too. Messages for the editor go
//! through `window/logMessage` in [`super::server`]; this module only does the file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

struct LogFile {
    path: PathBuf,
    file: File,
}

fn sink() -> &'static Mutex<Option<LogFile>> {
    static SINK: OnceLock<Mutex<Option<LogFile>>> = OnceLock::new();
    SINK.get_or_init(|| Mutex::new(None))
}

/// Opens (appending) the log file; creates its directory. On failure the log goes to stderr
/// only, and the error is returned for the caller to report.
pub fn open(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let mut sink = sink().lock().unwrap_or_else(|e| e.into_inner());
    *sink = Some(LogFile {
        path: path.to_path_buf(),
        file,
    });
    Ok(())
}

/// The file the log goes to, once opened.
pub fn path() -> Option<PathBuf> {
    let sink = sink().lock().unwrap_or_else(|e| e.into_inner());
    sink.as_ref().map(|log| log.path.clone())
}

/// Writes one line to the log file, or to stderr before it is open (stdout is the protocol).
pub fn write(level: &str, message: &str) {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let line = format!("{seconds:.3} {level:5} {message}\n");
    let mut sink = sink().lock().unwrap_or_else(|e| e.into_inner());
    match sink.as_mut() {
        Some(log) => {
            let _ = log.file.write_all(line.as_bytes());
        }
        None => eprint!("{line}"),
    }
}

/// Sends panics to the log file as well as stderr; the handler that panicked answers with an
/// error (see [`super::server`]) and the server goes on.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        write(
            "PANIC",
            &format!("{}{location}", panic_message(info.payload())),
        );
        default(info);
    }));
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
