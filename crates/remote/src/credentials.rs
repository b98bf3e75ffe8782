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
}

fn profile_name() -> String {
    std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into())
}

/// The profile's region in `AWS_CONFIG_FILE` (else `~/.aws/config`).
pub fn region() -> Option<String> {
    let name = profile_name();
    let text = std::fs::read_to_string(home_file("AWS_CONFIG_FILE", ".aws/config")?).ok()?;
    let config = sections(&text);
    let section = if name == "default" {
        config.get("default")
    } else {
        config.get(&format!("profile {name}"))
    };
    section.and_then(|s| s.get("region").cloned())
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

/// The profile's static keys, when its credentials file names them (a profile of another
/// kind — a role, SSO, a credential process — is left to the client's own providers).
pub fn profile() -> Result<Option<Profile>> {
    let name = profile_name();
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
    let (Some(id), secret) = (
        section.get("aws_access_key_id"),
        section.get("aws_secret_access_key"),
    ) else {
        return Ok(None);
    };
    let secret = secret.cloned().ok_or_else(|| RemoteError::Credentials {
        path: path.clone(),
        reason: format!("profile `{name}` has aws_access_key_id but no aws_secret_access_key"),
    })?;
    Ok(Some(Profile {
        access_key_id: id.clone(),
        secret_access_key: secret,
        session_token: section.get("aws_session_token").cloned(),
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
