//! ed25519 keys for signing record hashes, read from files.

use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::StoreError;

fn read_32(path: &Path) -> Result<[u8; 32], StoreError> {
    let bytes = std::fs::read(path).map_err(|source| StoreError::KeyFile {
        path: path.display().to_string(),
        source,
    })?;
    let bad = || StoreError::BadKey {
        path: path.display().to_string(),
    };
    // Hex (64 digits, surrounding whitespace ignored) is what people paste; raw bytes are
    // what tools write.
    let decoded = match std::str::from_utf8(&bytes) {
        Ok(text) if text.trim().len() == 64 => hex::decode(text.trim()).map_err(|_| bad())?,
        _ => bytes,
    };
    decoded.try_into().map_err(|_| bad())
}

/// The 32-byte ed25519 secret key (seed) in `path`.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, StoreError> {
    Ok(SigningKey::from_bytes(&read_32(path)?))
}

/// The 32-byte ed25519 public key in `path`, for verifying without the secret.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, StoreError> {
    VerifyingKey::from_bytes(&read_32(path)?).map_err(|_| StoreError::BadKey {
        path: path.display().to_string(),
    })
}
