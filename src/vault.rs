//! Credential encryption (R12): XChaCha20-Poly1305 from orion, with key ids and rotation.
//!
//! Each account's credentials are two ciphertexts (headers, cookies). The associated data
//! binds each to its format version, key id, account id and field, so a ciphertext copied to
//! another row, or swapped between fields, fails to open. The key ring is plain text, one key a
//! line as `<key-id>:<64 hex digits>`, the first line being the primary key that seals; the
//! others only open, until `alpha-oto keys rotate` has moved every row to the primary and the
//! operator retires them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use orion::hazardous::aead::xchacha20poly1305::{self, Nonce, SecretKey};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use crate::exchange::session::{Session, SessionError};
use crate::store::models::CredentialRow;
use crate::store::{self, Conn, StoreError};

/// Version byte at the front of every ciphertext; part of the associated data too.
const FORMAT: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Name of the systemd credential (LoadCredential=master-key:...).
pub const SYSTEMD_CREDENTIAL: &str = "master-key";
/// Development fallback; systemd units must use LoadCredential instead.
pub const KEY_ENV: &str = "ALPHA_OTO_MASTER_KEY";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "no master key: provide $CREDENTIALS_DIRECTORY/{SYSTEMD_CREDENTIAL} (systemd LoadCredential), \
         [vault] key_file, or {KEY_ENV}; `alpha-oto keygen` makes one"
    )]
    NoKey,
    #[error("master key {source_name}: {detail}")]
    KeyRing { source_name: String, detail: String },
    #[error(
        "credentials of account {account_id} are sealed under key {key_id:?}, which is not in the key ring"
    )]
    UnknownKey { account_id: i64, key_id: String },
    #[error(
        "credentials of account {account_id} ({field}) do not open: wrong key, or the data was altered or moved"
    )]
    Open {
        account_id: i64,
        field: &'static str,
    },
    #[error("credentials are invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("encryption failed")]
    Seal,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One key of the ring.
struct RingKey {
    id: String,
    key: SecretKey,
}

/// The keys the vault knows, the first being the primary.
pub struct KeyRing {
    keys: Vec<RingKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

impl KeyRing {
    /// Parses the ring text. `source_name` only labels errors; no error repeats key material.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, VaultError> {
        let err = |detail: String| VaultError::KeyRing {
            source_name: source_name.to_owned(),
            detail,
        };
        let mut keys: Vec<RingKey> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((id, hex_key)) = line.split_once(':') else {
                return Err(err(format!(
                    "line {}: expected <key-id>:<64 hex digits>",
                    n + 1
                )));
            };
            let id = id.trim();
            if id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(err(format!(
                    "line {}: key id must be 1-64 of [A-Za-z0-9._-]",
                    n + 1
                )));
            }
            let bytes = Zeroizing::new(hex::decode(hex_key.trim()).map_err(|_| {
                err(format!(
                    "line {} (key {id}): the key is not hexadecimal",
                    n + 1
                ))
            })?);
            if bytes.len() != 32 {
                return Err(err(format!(
                    "line {} (key {id}): the key must be 32 bytes (64 hex digits)",
                    n + 1
                )));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(err(format!("line {}: key id {id} appears twice", n + 1)));
            }
            let key = SecretKey::from_slice(&bytes)
                .map_err(|_| err(format!("line {}: unusable key", n + 1)))?;
            keys.push(RingKey {
                id: id.to_owned(),
                key,
            });
        }
        if keys.is_empty() {
            return Err(err("no key found".into()));
        }
        Ok(Self { keys })
    }

    /// Loads the ring from, in order: the systemd credential, the configured key file, the
    /// environment. `Ok(None)` when none is set.
    pub fn load(key_file: Option<&Path>) -> Result<Option<(Self, KeySource)>, VaultError> {
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let path = PathBuf::from(dir).join(SYSTEMD_CREDENTIAL);
            if path.exists() {
                let ring = Self::from_file(&path)?;
                return Ok(Some((ring, KeySource::SystemdCredential(path))));
            }
        }
        if let Some(path) = key_file {
            let ring = Self::from_file(path)?;
            return Ok(Some((ring, KeySource::File(path.to_owned()))));
        }
        if let Ok(text) = std::env::var(KEY_ENV) {
            let text = Zeroizing::new(text.replace(',', "\n"));
            return Ok(Some((Self::parse(&text, KEY_ENV)?, KeySource::Env)));
        }
        Ok(None)
    }

    fn from_file(path: &Path) -> Result<Self, VaultError> {
        use std::os::unix::fs::PermissionsExt;
        let name = path.display().to_string();
        // The key opens every stored session: a copy other users can read is refused, not
        // used, so the mistake is fixed before any credential is sealed under it.
        let mode = std::fs::metadata(path)
            .map_err(|e| VaultError::KeyRing {
                source_name: name.clone(),
                detail: crate::access::explain(path, &e).to_string(),
            })?
            .permissions()
            .mode();
        if mode & 0o007 != 0 {
            return Err(VaultError::KeyRing {
                source_name: name.clone(),
                detail: format!(
                    "other users may read it (mode {:o}): run `chmod 600 {name}` (or 640 for a \
                     group the service is in)",
                    mode & 0o777
                ),
            });
        }
        let text = Zeroizing::new(crate::access::read_to_string(path).map_err(|e| {
            VaultError::KeyRing {
                source_name: name.clone(),
                detail: e.to_string(),
            }
        })?);
        Self::parse(&text, &name)
    }

    pub fn primary_id(&self) -> &str {
        self.keys.first().map_or("", |k| k.id.as_str())
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    fn primary(&self) -> Result<&RingKey, VaultError> {
        self.keys.first().ok_or(VaultError::NoKey)
    }

    fn find(&self, id: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

/// Where the key ring came from (for the start-up log line; never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    SystemdCredential(PathBuf),
    File(PathBuf),
    Env,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::SystemdCredential(p) => write!(f, "systemd credential {}", p.display()),
            KeySource::File(p) => write!(f, "key file {}", p.display()),
            KeySource::Env => write!(f, "environment variable {KEY_ENV}"),
        }
    }
}

/// A new key line for the ring, `<key-id>:<hex>`, with a time-based id.
pub fn generate_key_line(now: chrono::DateTime<chrono::Utc>) -> String {
    let key = SecretKey::generate();
    format!(
        "k{}:{}",
        now.format("%Y%m%d%H%M%S"),
        hex::encode(key.unprotected_as_bytes())
    )
}

fn associated_data(key_id: &str, account_id: i64, field: &str) -> Vec<u8> {
    format!("alpha-oto/credentials/v{FORMAT}/{key_id}/{account_id}/{field}").into_bytes()
}

/// What a rotation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    pub rotated: Vec<i64>,
    /// Rows changed by someone else during the rotation (already re-sealed by them).
    pub skipped: Vec<i64>,
    /// Rows that could not be opened, with the reason; they keep their old ciphertext.
    pub failed: Vec<(i64, String)>,
}

/// Seals and opens credentials with the key ring.
pub struct Vault {
    ring: KeyRing,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault").field("ring", &self.ring).finish()
    }
}

impl Vault {
    pub fn new(ring: KeyRing) -> Self {
        Self { ring }
    }

    /// A key of its own for `purpose`, derived from the primary key (HMAC-SHA256): what signs
    /// webhooks, without a second secret to keep. It changes when the primary key does.
    pub fn derived_key(&self, purpose: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        use orion::hazardous::mac::hmac::sha256::{self, HmacSha256};
        let primary = self.ring.primary()?;
        let key = sha256::SecretKey::from_slice(primary.key.unprotected_as_bytes())
            .map_err(|_| VaultError::Invalid("the primary key cannot key a MAC".into()))?;
        let tag = HmacSha256::hmac(&key, purpose.as_bytes())
            .map_err(|_| VaultError::Invalid("deriving a key failed".into()))?;
        Ok(Zeroizing::new(tag.unprotected_as_bytes().to_vec()))
    }

    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    fn seal_field(
        &self,
        key: &RingKey,
        account_id: i64,
        field: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        let nonce = Nonce::generate();
        let ad = associated_data(&key.id, account_id, field);
        let mut out = vec![0_u8; 1 + NONCE_LEN + plaintext.len() + TAG_LEN];
        out[0] = FORMAT;
        out[1..1 + NONCE_LEN].copy_from_slice(nonce.as_ref());
        xchacha20poly1305::seal(
            &key.key,
            &nonce,
            plaintext,
            Some(&ad),
            &mut out[1 + NONCE_LEN..],
        )
        .map_err(|_| VaultError::Seal)?;
        Ok(out)
    }

    fn open_field(
        &self,
        key: &RingKey,
        account_id: i64,
        field: &'static str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let bad = || VaultError::Open { account_id, field };
        if blob.len() < 1 + NONCE_LEN + TAG_LEN || blob[0] != FORMAT {
            return Err(bad());
        }
        let nonce = Nonce::from_slice(&blob[1..1 + NONCE_LEN]).map_err(|_| bad())?;
        let sealed = &blob[1 + NONCE_LEN..];
        let ad = associated_data(&key.id, account_id, field);
        let mut out = Zeroizing::new(vec![0_u8; sealed.len() - TAG_LEN]);
        xchacha20poly1305::open(&key.key, &nonce, sealed, Some(&ad), &mut out)
            .map_err(|_| bad())?;
        Ok(out)
    }

    /// Encrypts credentials for `account_id` under the primary key.
    pub fn seal(
        &self,
        account_id: i64,
        creds: &Session,
        now_ms: i64,
    ) -> Result<CredentialRow, VaultError> {
        let key = self.ring.primary()?;
        Ok(CredentialRow {
            account_id,
            key_id: key.id.clone(),
            headers_ct: self.seal_field(
                key,
                account_id,
                "headers",
                &creds
                    .headers_json()
                    .map_err(|e| VaultError::Invalid(e.to_string()))?,
            )?,
            cookies_ct: self.seal_field(
                key,
                account_id,
                "cookies",
                creds.cookies.expose_secret().as_bytes(),
            )?,
            updated_at_ms: now_ms,
            expires_at_ms: creds.expires_at_ms,
        })
    }

    /// Decrypts a stored row; fails if it belongs to another account or was altered.
    pub fn open(&self, row: &CredentialRow) -> Result<Session, VaultError> {
        let key = self
            .ring
            .find(&row.key_id)
            .ok_or_else(|| VaultError::UnknownKey {
                account_id: row.account_id,
                key_id: row.key_id.clone(),
            })?;
        let headers_pt = self.open_field(key, row.account_id, "headers", &row.headers_ct)?;
        let cookies_pt = self.open_field(key, row.account_id, "cookies", &row.cookies_ct)?;
        let bad = |field| VaultError::Open {
            account_id: row.account_id,
            field,
        };
        let headers: BTreeMap<String, String> =
            serde_json::from_slice(&headers_pt).map_err(|_| bad("headers"))?;
        let cookies = String::from_utf8(cookies_pt.to_vec()).map_err(|_| bad("cookies"))?;
        let mut session = Session::new(
            headers
                .into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
            SecretString::from(cookies),
        )?;
        session.expires_at_ms = row.expires_at_ms;
        Ok(session)
    }

    /// Seals and stores an account's credentials, replacing the old ones.
    pub fn put(
        &self,
        conn: &mut Conn,
        account_id: i64,
        creds: &Session,
        now_ms: i64,
    ) -> Result<(), VaultError> {
        let row = self.seal(account_id, creds, now_ms)?;
        store::credentials::put(conn, &row)?;
        Ok(())
    }

    /// Reads and opens an account's credentials.
    pub fn get(&self, conn: &mut Conn, account_id: i64) -> Result<Option<Session>, VaultError> {
        match store::credentials::get(conn, account_id)? {
            Some(row) => self.open(&row).map(Some),
            None => Ok(None),
        }
    }

    /// Re-seals every row that is not under the primary key. Rows that fail to open are
    /// reported and left as they are; a row changed meanwhile is skipped.
    pub fn rotate(&self, conn: &mut Conn, now_ms: i64) -> Result<RotationReport, VaultError> {
        let primary = self.ring.primary()?.id.clone();
        let mut report = RotationReport::default();
        for account_id in store::credentials::ids_not_under_key(conn, &primary)? {
            let Some(row) = store::credentials::get(conn, account_id)? else {
                report.skipped.push(account_id);
                continue;
            };
            let creds = match self.open(&row) {
                Ok(c) => c,
                Err(e) => {
                    report.failed.push((account_id, e.to_string()));
                    continue;
                }
            };
            let resealed = self.seal(account_id, &creds, now_ms)?;
            if store::credentials::replace_if_key(conn, &resealed, &row.key_id)? {
                report.rotated.push(account_id);
            } else {
                report.skipped.push(account_id);
            }
        }
        Ok(report)
    }
}
