//! Object identifiers: the BLAKE3 digest of an object's bytes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The prefix that marks a string inside a manifest as a reference to another object.
pub const REF_PREFIX: &str = "blake3:";

/// The name of an object: the BLAKE3 hash of its bytes, shown as 64 lowercase hex digits.
///
/// In a manifest an `ObjectId` is written as `"blake3:<hex>"`, so that a walker (gc, fsck,
/// lineage) can find every reference without knowing the manifest's schema.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId([u8; 32]);

impl ObjectId {
    /// The id of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from(self.0).to_hex().to_string()
    }

    /// The first 12 hex digits, for human output.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }

    /// Parses a manifest reference (`blake3:<hex>`).
    pub fn from_ref_str(s: &str) -> Option<Self> {
        s.strip_prefix(REF_PREFIX).and_then(|hex| hex.parse().ok())
    }

    /// The manifest form, `blake3:<hex>`.
    pub fn to_ref_string(&self) -> String {
        format!("{REF_PREFIX}{}", self.to_hex())
    }
}

impl From<blake3::Hash> for ObjectId {
    fn from(hash: blake3::Hash) -> Self {
        Self(*hash.as_bytes())
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.short())
    }
}

/// Why a string is not an object id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an object hash (expected 64 lowercase hex digits)")]
pub struct ParseIdError(pub String);

impl FromStr for ObjectId {
    type Err = ParseIdError;

    /// Accepts 64 lowercase hex digits, optionally prefixed by `blake3:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix(REF_PREFIX).unwrap_or(s);
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(ParseIdError(s.to_string()));
        }
        blake3::Hash::from_hex(hex)
            .map(Self::from)
            .map_err(|_| ParseIdError(s.to_string()))
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_ref_string())
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::from_ref_str(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not an object reference (blake3:<64 hex>)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_ref_form() {
        let id = ObjectId::of(b"hello");
        assert_eq!(id.to_hex(), blake3::hash(b"hello").to_hex().as_str());
        assert_eq!(id.to_hex().parse::<ObjectId>(), Ok(id));
        assert_eq!(ObjectId::from_ref_str(&id.to_ref_string()), Some(id));
        assert_eq!(
            serde_json::to_string(&id).unwrap_or_default(),
            format!("\"{}\"", id.to_ref_string())
        );
    }

    #[test]
    fn rejects_malformed_hashes() {
        for bad in [
            "",
            "abc",
            &"A".repeat(64),
            &"g".repeat(64),
            &"0".repeat(63),
            &"0".repeat(65),
        ] {
            assert!(bad.parse::<ObjectId>().is_err(), "{bad}");
        }
    }
}
