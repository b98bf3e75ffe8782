//! Ref names: the only mutable names in a store.
//!
//! Grammar (documented in ARCHITECTURE.md and `cairn ref --help`):
//!
//! ```text
//! ref      = path [ "@" version ]
//! path     = segment *( "/" segment )
//! segment  = alnum *( alnum / "." / "_" / "-" )        ; at most 64 bytes
//! version  = alnum *( alnum / "." / "+" / "-" / "_" )  ; at most 64 bytes
//! ```
//!
//! `..` may appear nowhere, a name is at most 200 bytes, and there are no absolute paths,
//! spaces or control characters. A name with `@` (`l2@1.2.1`) is a published version and is
//! immutable once set; one without (`l2/latest`) can be moved.

use std::fmt;
use std::str::FromStr;

/// A validated ref name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefName(String);

/// Why a string is not a valid ref name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// The name is shown escaped: a control character in it (a newline from a TOML string) must
// not split the one-line error (found by `cairn-fuzz experiment`).
#[error(
    "invalid ref name `{}`: {reason} (use letters, digits, `.`, `_`, `-`, `/` between parts and one `@version`, e.g. `l2@1.2.1` or `l2/latest`)",
    crate::one_line(.name)
)]
pub struct RefNameError {
    pub name: String,
    pub reason: &'static str,
}

const MAX_LEN: usize = 200;
const MAX_PART: usize = 64;

impl RefName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A published version (`name@version`): set once, never moved.
    pub fn is_immutable(&self) -> bool {
        self.0.contains('@')
    }

    /// The part before `@`, e.g. `l2` for `l2@1.2.1`.
    pub fn path(&self) -> &str {
        self.0.split('@').next().unwrap_or(&self.0)
    }

    /// The part after `@`, if any.
    pub fn version(&self) -> Option<&str> {
        self.0.split_once('@').map(|(_, v)| v)
    }

    /// `name@version` from its two parts, validated.
    pub fn versioned(name: &str, version: &str) -> Result<Self, RefNameError> {
        format!("{name}@{version}").parse()
    }

    /// The file name a ref is kept under: `/` becomes `%2F` so that `l2` and `l2/latest` can
    /// both exist (the name charset has no `%`, so the mapping is one-to-one).
    pub fn file_name(&self) -> String {
        self.0.replace('/', "%2F")
    }

    /// The ref a [`RefName::file_name`] names.
    pub fn from_file_name(file: &str) -> Result<Self, RefNameError> {
        file.replace("%2F", "/").parse()
    }
}

fn err(name: &str, reason: &'static str) -> RefNameError {
    RefNameError {
        name: name.to_string(),
        reason,
    }
}

fn check_part(
    name: &str,
    part: &str,
    extra: &[u8],
    what: &'static str,
) -> Result<(), RefNameError> {
    let bytes = part.as_bytes();
    let Some(first) = bytes.first() else {
        return Err(err(name, what));
    };
    if !first.is_ascii_alphanumeric() {
        return Err(err(name, "each part must start with a letter or digit"));
    }
    if bytes.len() > MAX_PART {
        return Err(err(name, "a part is longer than 64 characters"));
    }
    if let Some(bad) = bytes
        .iter()
        .find(|b| !(b.is_ascii_alphanumeric() || extra.contains(b)))
    {
        return Err(if bad.is_ascii_control() || *bad >= 0x80 {
            err(name, "it contains a control or non-ASCII character")
        } else if *bad == b' ' {
            err(name, "it contains a space")
        } else {
            err(name, "it contains a character outside the allowed set")
        });
    }
    Ok(())
}

impl FromStr for RefName {
    type Err = RefNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name.is_empty() {
            return Err(err(name, "it is empty"));
        }
        // The ref's file name writes each `/` as `%2F`; it must stay a valid file name.
        if name.len() + 2 * name.matches('/').count() > MAX_LEN {
            return Err(err(
                name,
                "it is longer than 200 characters (counting each `/` as 3, as its file name does)",
            ));
        }
        if name.contains("..") {
            return Err(err(name, "it contains `..`"));
        }
        if name.starts_with('/') {
            return Err(err(name, "it is an absolute path"));
        }
        let (path, version) = match name.split_once('@') {
            Some((p, v)) => (p, Some(v)),
            None => (name, None),
        };
        for segment in path.split('/') {
            check_part(name, segment, b"._-", "it has an empty part")?;
        }
        if let Some(version) = version {
            check_part(name, version, b".+-_", "the version after `@` is empty")?;
        }
        Ok(Self(name.to_string()))
    }
}

impl fmt::Display for RefName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RefName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_documented_forms() {
        for ok in [
            "l2",
            "l2@1.2.1",
            "l2/latest",
            "team/l2@1.0.0-rc.1+build.5",
            "a_b-c.d",
            "X9@v2",
        ] {
            let name: RefName = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(name.as_str(), ok);
            assert_eq!(RefName::from_file_name(&name.file_name()), Ok(name));
        }
        let v: RefName = "l2@1.2.1".parse().expect("valid");
        assert!(v.is_immutable());
        assert_eq!((v.path(), v.version()), ("l2", Some("1.2.1")));
        assert!(
            !"l2/latest"
                .parse::<RefName>()
                .expect("valid")
                .is_immutable()
        );
    }

    #[test]
    fn an_error_is_one_line_whatever_the_name_holds() {
        let e = "detector-m\nilm@1.0.0"
            .parse::<RefName>()
            .expect_err("newline");
        let message = e.to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains("`detector-m\\nilm@1.0.0`"), "{message}");
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x", ".."),
            ("a/../b", ".."),
            ("a..b", ".."),
            ("a//b", "empty part"),
            ("a/", "empty part"),
            ("a@", "version"),
            ("a@1@2", "outside"),
            ("a b", "space"),
            ("a\nb", "control"),
            ("a\u{7f}", "control"),
            ("é", "letter or digit"),
            (".hidden", "letter or digit"),
            ("-x", "letter or digit"),
            ("a%2Fb", "outside"),
            ("a\\b", "outside"),
            ("a:b", "outside"),
        ];
        for (bad, why) in cases {
            let e = bad.parse::<RefName>().expect_err(bad);
            assert!(e.to_string().contains(why), "{bad:?}: {e}");
        }
        assert!("a".repeat(201).parse::<RefName>().is_err());
        assert!("a".repeat(65).parse::<RefName>().is_err());
    }

    proptest! {
        /// Whatever the input, a name that validates maps to a single file name inside the
        /// refs folder and back.
        #[test]
        fn valid_names_stay_inside_the_refs_folder(s in "\\PC{0,40}") {
            if let Ok(name) = s.parse::<RefName>() {
                let file = name.file_name();
                prop_assert!(!file.contains('/') && !file.contains('\\') && !file.contains(".."));
                prop_assert!(!file.starts_with('.') && !file.is_empty());
                prop_assert_eq!(RefName::from_file_name(&file), Ok(name));
            }
        }

        #[test]
        fn generated_valid_names_parse(path in "[a-z0-9][a-z0-9_-]{0,10}(/[A-Z0-9][a-z0-9_-]{0,10}){0,3}", version in proptest::option::of("[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}")) {
            let s = match &version { Some(v) => format!("{path}@{v}"), None => path.clone() };
            let name = s.parse::<RefName>();
            prop_assert!(name.is_ok(), "{}: {:?}", s, name);
        }
    }
}
