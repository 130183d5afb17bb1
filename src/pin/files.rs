//! The files `pin` writes: their names beside `site.toml`, the date their
//! entries carry, and the one way they are written (a temporary file beside
//! the target, renamed over it), so a failure leaves a lock as it was.

use std::path::Path;

use crate::error::Error;

/// The file names beside `site.toml`.
pub const IMAGES_LOCK: &str = "images.lock";
pub const CLOUDFLARE_LOCK: &str = "cloudflare.lock";
pub const IMAGE_SET: &str = "images.tar";

/// Today as `YYYY-MM-DD`: `CLAWBAKE_NOW` if set (a date), else
/// `SOURCE_DATE_EPOCH`, else the clock. Tests fix it for stable output.
pub fn today() -> Result<String, Error> {
    if let Ok(now) = std::env::var("CLAWBAKE_NOW") {
        let ok = now.len() == 10
            && now.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !ok {
            return Err(Error::Message {
                message: format!("`CLAWBAKE_NOW` is `{now}`, not a date"),
                help: Some("write it as `YYYY-MM-DD`, or unset it".to_owned()),
            });
        }
        return Ok(now);
    }
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => s.trim().parse::<u64>().map_err(|_| Error::Message {
            message: format!("`SOURCE_DATE_EPOCH` is `{s}`, not a number of seconds"),
            help: Some("set it to seconds since 1970, or unset it".to_owned()),
        })?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    Ok(crate::clock::civil_date(secs / 86_400))
}

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        action: format!("writing `{}`", path.display()),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".clawbake-")
        .tempfile_in(dir)
        .map_err(io)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
