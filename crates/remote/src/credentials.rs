//! AWS credentials from a profile, for when the environment has none: `AWS_PROFILE` (else
//! `default`) in `AWS_SHARED_CREDENTIALS_FILE` (else `~/.aws/credentials`), its region from
//! `AWS_CONFIG_FILE` (else `~/.aws/config`). The environment's own `AWS_*` variables win.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::{RemoteError, Result};

pub struct Profile {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub region: Option<String>,
}

/// `[section]` → key → value of an INI file.
fn sections(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.entry(current.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

fn home_file(var: &str, rest: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(rest)))
}

/// The profile's credentials, when its file names them.
pub fn profile() -> Result<Option<Profile>> {
    let name = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let Some(path) = home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials") else {
        return Ok(None);
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let all = sections(&text);
    let Some(section) = all.get(&name) else {
        return Ok(None);
    };
    let key = |k: &str| {
        section
            .get(k)
            .cloned()
            .ok_or_else(|| RemoteError::Credentials {
                path: path.clone(),
                reason: format!("profile `{name}` has no `{k}`"),
            })
    };
    let region = home_file("AWS_CONFIG_FILE", ".aws/config")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| {
            let config = sections(&text);
            let section = if name == "default" {
                config.get("default").cloned()
            } else {
                config.get(&format!("profile {name}")).cloned()
            };
            section.and_then(|s| s.get("region").cloned())
        });
    Ok(Some(Profile {
        access_key_id: key("aws_access_key_id")?,
        secret_access_key: key("aws_secret_access_key")?,
        session_token: section.get("aws_session_token").cloned(),
        region,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_and_keys() {
        let s =
            sections("# c\n[default]\naws_access_key_id = A\n\n[profile team]\nRegion=eu-west-1\n");
        assert_eq!(s["default"]["aws_access_key_id"], "A");
        assert_eq!(s["profile team"]["region"], "eu-west-1");
    }
}
