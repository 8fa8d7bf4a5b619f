//! Tokens: who may read and write which database.
//!
//! Only SHA-256 digests are stored, in `<data-dir>/tokens.json` (mode 0600).
//! Every presented token is hashed and compared against every stored digest in
//! constant time, so timing says nothing about how close a guess was. A
//! background thread reloads the file when it changes, so `hydrant token
//! create` takes effect on a running server without a restart.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const TOKENS_FILE: &str = "tokens.json";
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub db: String,
    pub read: bool,
    pub write: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    /// Hex SHA-256 of the token.
    pub sha256: String,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// What a request proved about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// `--without-auth`: everything is allowed.
    Anonymous,
    Token(Arc<StoredToken>),
}

impl Identity {
    pub fn may(&self, access: Access, db: &str) -> bool {
        match self {
            Identity::Anonymous => true,
            Identity::Token(t) if t.admin => true,
            Identity::Token(t) => t.permissions.iter().any(|p| {
                (p.db == db || p.db == "*")
                    && match access {
                        Access::Read => p.read,
                        Access::Write => p.write,
                    }
            }),
        }
    }

    pub fn is_admin(&self) -> bool {
        match self {
            Identity::Anonymous => true,
            Identity::Token(t) => t.admin,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials were sent.
    Missing,
    /// Credentials were sent and match no token.
    Invalid,
}

struct Digests {
    tokens: Vec<([u8; 32], Arc<StoredToken>)>,
}

/// The tokens a server accepts; shared by every core, swapped on reload.
pub struct TokenStore {
    path: Option<PathBuf>,
    current: ArcSwap<Digests>,
    loaded_mtime: std::sync::Mutex<Option<SystemTime>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (k, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * k..2 * k + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// A new random token: 32 bytes from the OS, URL-safe base64.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    format!(
        "hyd_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn read_tokens(path: &Path) -> std::io::Result<Vec<StoredToken>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Writes `contents` to `path` with mode 0600, atomically (rename).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    crate::files::replace(path, contents, 0o600)
}

/// Adds a token to the file in `data_dir` and returns the token itself.
pub fn create_token(
    data_dir: &Path,
    admin: bool,
    permissions: Vec<Permission>,
    description: &str,
) -> std::io::Result<String> {
    let token = generate_token();
    add_token(data_dir, &token, admin, permissions, description)?;
    Ok(token)
}

/// Stores the digest of a given token (no-op if it is already there).
pub fn add_token(
    data_dir: &Path,
    token: &str,
    admin: bool,
    permissions: Vec<Permission>,
    description: &str,
) -> std::io::Result<()> {
    fs::create_dir_all(data_dir)?;
    let path = data_dir.join(TOKENS_FILE);
    let mut tokens = read_tokens(&path)?;
    let sha = hex(&digest(token));
    if tokens.iter().any(|t| t.sha256 == sha) {
        return Ok(());
    }
    tokens.push(StoredToken {
        sha256: sha,
        admin,
        permissions,
        description: description.to_owned(),
    });
    let json = serde_json::to_vec_pretty(&tokens).expect("tokens serialize");
    write_private(&path, &json)
}

impl TokenStore {
    /// A store that accepts nothing (used with `--without-auth`, where it is never asked).
    pub fn empty() -> Self {
        TokenStore {
            path: None,
            current: ArcSwap::from_pointee(Digests { tokens: Vec::new() }),
            loaded_mtime: std::sync::Mutex::new(None),
        }
    }

    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let store = TokenStore {
            path: Some(data_dir.join(TOKENS_FILE)),
            ..TokenStore::empty()
        };
        store.reload()?;
        Ok(store)
    }

    pub fn len(&self) -> usize {
        self.current.load().tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Re-reads the file if it changed since the last load.
    pub fn reload(&self) -> std::io::Result<bool> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let mtime = fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut loaded = self.loaded_mtime.lock().unwrap_or_else(|e| e.into_inner());
        if mtime.is_some() && *loaded == mtime {
            return Ok(false);
        }
        let tokens = read_tokens(path)?
            .into_iter()
            .filter_map(|t| Some((unhex(&t.sha256)?, Arc::new(t))))
            .collect();
        self.current.store(Arc::new(Digests { tokens }));
        *loaded = mtime;
        Ok(true)
    }

    /// The identity behind `token`, compared against every stored digest.
    pub fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
        let presented = digest(token);
        let mut found = None;
        for (stored, info) in self.current.load().tokens.iter() {
            if constant_time_eq(stored, &presented) && found.is_none() {
                found = Some(info.clone());
            }
        }
        found.map(Identity::Token).ok_or(AuthError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hydrant-auth-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn tokens_round_trip_through_the_file_as_digests() {
        let dir = scratch("roundtrip");
        let admin = create_token(&dir, true, vec![], "admin").unwrap();
        let writer = create_token(
            &dir,
            false,
            vec![Permission {
                db: "telegraf".into(),
                read: false,
                write: true,
            }],
            "telegraf",
        )
        .unwrap();
        let file = fs::read_to_string(dir.join(TOKENS_FILE)).unwrap();
        assert!(!file.contains(&admin) && !file.contains(&writer));
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join(TOKENS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let store = TokenStore::open(&dir).unwrap();
        let who = store.authenticate(&admin).unwrap();
        assert!(who.may(Access::Write, "anything"));
        let who = store.authenticate(&writer).unwrap();
        assert!(who.may(Access::Write, "telegraf"));
        assert!(!who.may(Access::Read, "telegraf"));
        assert!(!who.may(Access::Write, "other"));
        assert_eq!(store.authenticate("nope"), Err(AuthError::Invalid));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reload_picks_up_new_tokens() {
        let dir = scratch("reload");
        create_token(&dir, true, vec![], "first").unwrap();
        let store = TokenStore::open(&dir).unwrap();
        assert_eq!(store.len(), 1);
        // mtime resolution can be coarse; make sure the change is visible.
        std::thread::sleep(Duration::from_millis(20));
        let second = create_token(&dir, true, vec![], "second").unwrap();
        let t = SystemTime::now() + Duration::from_secs(2);
        let f = fs::File::options()
            .write(true)
            .open(dir.join(TOKENS_FILE))
            .unwrap();
        f.set_modified(t).unwrap();
        assert!(store.reload().unwrap());
        assert!(store.authenticate(&second).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }
}
