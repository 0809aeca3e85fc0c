//! The generated bearer token of the MCP HTTP server: `<data dir>/mcp.token`, created with
//! mode 0600 in one atomic step, reused across restarts while it is valid, so a loopback
//! server is never open to every local user by default.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Random bytes in a token (hex-encoded: 64 characters).
const TOKEN_BYTES: usize = 32;
/// A token file larger than this is not a token we wrote.
const MAX_FILE_BYTES: u64 = 1024;

/// The token file of a data dir.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("mcp.token")
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the MCP HTTP token file {path}: {source}")]
pub struct TokenError {
    path: PathBuf,
    source: std::io::Error,
}

/// The token in `path`: the one already there when it is valid, else a new one written
/// there. Either way the file ends up 0600.
pub fn load_or_create(path: &Path) -> Result<String, TokenError> {
    let err = |source| TokenError {
        path: path.to_path_buf(),
        source,
    };
    match read_existing(path).map_err(err)? {
        Some(token) => {
            restrict(path).map_err(err)?;
            Ok(token)
        }
        None => {
            let token = generate().map_err(err)?;
            write_atomically(path, &token).map_err(err)?;
            tracing::info!(path = %path.display(), "generated a new MCP HTTP bearer token");
            Ok(token)
        }
    }
}

/// A valid token already in the file; `None` when there is no file or it holds no token.
fn read_existing(path: &Path) -> std::io::Result<Option<String>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    if file
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .is_err()
    {
        tracing::warn!(path = %path.display(), "the MCP token file is not text; replacing it");
        return Ok(None);
    }
    let token = text.trim();
    if is_valid(token) {
        Ok(Some(token.to_string()))
    } else {
        tracing::warn!(path = %path.display(), "the MCP token file holds no valid token; replacing it");
        Ok(None)
    }
}

/// A token worth reusing: long enough to be unguessable, and nothing that could break a
/// header (what we generate is 64 hex digits; a hand-written one may be any such word).
pub fn is_valid(token: &str) -> bool {
    (32..=512).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// A file another user can read is tightened, with a warning: the token is a password.
fn restrict(path: &Path) -> std::io::Result<()> {
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the MCP token file was readable by others; set to 0600");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn generate() -> std::io::Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    random_bytes(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Fill `buf` from the kernel's CSPRNG: tokens, secrets and signing keys all come from here.
pub(crate) fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// Write `text` (and a newline) to `path`, private from the first byte, atomically.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    write_atomically(path, text)
}

/// Write to a private temporary file in the same dir, then rename over `path`: a reader
/// sees the old file or the whole new one, never a part, and never a moment of 0644.
fn write_atomically(path: &Path, token: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".mcp.token.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(format!("{token}\n").as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_token_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_path(dir.path());
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 64);
        assert!(is_valid(&first));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(load_or_create(&path).unwrap(), first);
        // Only the token file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_bad_file_is_replaced_and_a_loose_one_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_path(dir.path());
        std::fs::write(&path, "short\n").unwrap();
        let token = load_or_create(&path).unwrap();
        assert_ne!(token, "short");
        assert_eq!(mode(&path), 0o600);

        let own = "a-hand-written-token-of-enough-length-0123456789";
        std::fs::write(&path, format!("{own}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), own);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn validity() {
        assert!(!is_valid(""));
        assert!(!is_valid("abc"));
        assert!(!is_valid(&"a b".repeat(20)));
        assert!(is_valid(&"ab".repeat(32)));
    }
}
