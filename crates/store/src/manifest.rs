//! Typed manifests: canonical JSON objects with a `kind` that reference other objects.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::id::{ObjectId, REF_PREFIX};

/// The manifest format version written into every manifest as `"cairn"`.
pub const MANIFEST_FORMAT: u64 = 1;

/// A Rust type stored as a manifest. The stored JSON is the type's own fields plus
/// `"kind": KIND` and `"cairn": MANIFEST_FORMAT`, encoded canonically. References to other
/// objects are `ObjectId` fields (written `"blake3:<hex>"`), so generic walkers find them.
pub trait Manifest: Serialize + DeserializeOwned {
    const KIND: &'static str;
}

/// The exact bytes a manifest is stored as (its id is their BLAKE3), without storing it.
pub fn encode<M: Manifest>(manifest: &M) -> Result<Vec<u8>, crate::canonical::CanonicalError> {
    let fields = crate::canonical::to_value(manifest)?;
    let value = wrap(M::KIND, fields).map_err(crate::canonical::CanonicalError::Custom)?;
    crate::canonical::value_to_vec(&value)
}

/// Adds the `kind` and format fields to a manifest's own fields.
pub(crate) fn wrap(kind: &str, fields: Value) -> Result<Value, String> {
    let Value::Object(mut map) = fields else {
        return Err("a manifest must serialize to a JSON object".into());
    };
    if map.contains_key("kind") || map.contains_key("cairn") {
        return Err("manifest fields may not be named `kind` or `cairn`".into());
    }
    map.insert("kind".into(), Value::String(kind.into()));
    map.insert("cairn".into(), Value::from(MANIFEST_FORMAT));
    Ok(Value::Object(map))
}

/// If `bytes` are a manifest, its kind and fields (without `kind` and `cairn`).
pub fn parse(bytes: &[u8]) -> Option<(String, Map<String, Value>)> {
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(bytes) else {
        return None;
    };
    map.get("cairn")?.as_u64()?;
    let kind = map.get("kind")?.as_str()?.to_string();
    map.remove("cairn");
    map.remove("kind");
    Some((kind, map))
}

/// Every object a manifest references, in document order, without duplicates.
pub fn references(value: &Value) -> Vec<ObjectId> {
    fn walk(value: &Value, out: &mut Vec<ObjectId>) {
        match value {
            Value::String(s) if s.starts_with(REF_PREFIX) => {
                if let Some(id) = ObjectId::from_ref_str(s)
                    && !out.contains(&id)
                {
                    out.push(id);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out);
    out
}
