//! Templates with `{slot}` placeholders and the vocabularies that fill them.
//!
//! A placeholder is `{name}` or `{name|t1|t2}`: the slot `name` is filled
//! (recursively: slot values may hold placeholders of their own) and the
//! named transforms from [`crate::encode::apply`] run on the result in order.
//! A `{` that does not open such a placeholder is kept literally, so JSON and
//! code in templates need no escaping.

use crate::encode;
use crate::rng::Gen;
use crate::templates::Slot;
pub use crate::templates::Split;

/// Slot lookup over an ordered list of vocabularies (first match wins).
pub struct Vocab<'a> {
    pub tables: Vec<&'a [Slot]>,
}

/// The most placeholders one [`Vocab::fill`] expands. The project's templates use a few
/// dozen at most.
pub const MAX_EXPANSIONS: usize = 512;

impl<'a> Vocab<'a> {
    pub fn new(tables: Vec<&'a [Slot]>) -> Self {
        Vocab { tables }
    }

    pub fn get(&self, name: &str) -> Option<&'a Slot> {
        self.tables
            .iter()
            .find_map(|t| t.iter().find(|s| s.name == name))
    }

    /// Fills every placeholder in `template`, expanding at most [`MAX_EXPANSIONS`] of them
    /// (nested ones included); any beyond stay as written. Depth alone does not bound the
    /// work: slot values that each name a slot several times grow exponentially, and a
    /// fuzzed suite took seconds per text before this budget.
    pub fn fill(&self, template: &str, split: Split, g: &mut Gen) -> String {
        let mut budget = MAX_EXPANSIONS;
        self.fill_depth(template, split, g, 0, &mut budget)
    }

    fn fill_depth(
        &self,
        template: &str,
        split: Split,
        g: &mut Gen,
        depth: usize,
        budget: &mut usize,
    ) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            match parse_placeholder(after) {
                Some((name, transforms, len)) if depth < 8 && *budget > 0 => match self.get(name) {
                    Some(slot) => {
                        *budget -= 1;
                        let value = pick_value(slot, split, g);
                        let mut filled = self.fill_depth(value, split, g, depth + 1, budget);
                        for t in transforms.split('|').filter(|t| !t.is_empty()) {
                            filled = encode::apply(t, &filled, g);
                        }
                        out.push_str(&filled);
                        rest = &after[len + 1..];
                    }
                    None => {
                        out.push('{');
                        rest = after;
                    }
                },
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

fn pick_value<'a>(slot: &'a Slot, split: Split, g: &mut Gen) -> &'a str {
    match split {
        Split::Test if !slot.test.is_empty() && (slot.train.is_empty() || g.chance(0.5)) => {
            &slot.test[g.below(slot.test.len())]
        }
        _ if slot.train.is_empty() => &slot.test[g.below(slot.test.len())],
        _ => &slot.train[g.below(slot.train.len())],
    }
}

/// Parses `name|t1|t2}` at the start of `s`: returns the name, the transform
/// list and the length up to (not including) the closing brace.
pub fn parse_placeholder(s: &str) -> Option<(&str, &str, usize)> {
    let end = s.find('}')?;
    let inner = &s[..end];
    let (name, transforms) = match inner.find('|') {
        Some(i) => (&inner[..i], &inner[i + 1..]),
        None => (inner, ""),
    };
    let ok_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let ok_tr = transforms
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'|');
    if ok_name && ok_tr {
        Some((name, transforms, end))
    } else {
        None
    }
}

/// Every placeholder name used in `template`.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        if let Some((name, _, len)) = parse_placeholder(after) {
            names.push(name);
            rest = &after[len + 1..];
        } else {
            rest = after;
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `cairn-fuzz suite`: values that name slots several times at each of the 8
    /// levels meant 8^8 expansions per text. The budget keeps one fill small and quick.
    #[test]
    fn nested_slot_references_expand_within_a_budget() {
        let names = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"];
        let slots: Vec<Slot> = names
            .windows(2)
            .map(|w| {
                let value = format!("{{{}}}", w[1]).repeat(8);
                slot(w[0], &[&value], &[&value])
            })
            .chain([slot("s8", &["x"], &["x"])])
            .collect();
        let vocab = Vocab::new(vec![&slots]);
        let mut g = Gen::new(1, 1);
        let text = vocab.fill("{s0}", Split::Train, &mut g);
        // At most MAX_EXPANSIONS placeholders were filled; the rest stay as written.
        assert!(text.len() < MAX_EXPANSIONS * 8 * 8, "{} bytes", text.len());
        assert!(text.contains("{s"), "the budget ran out before the leaves");
    }

    fn slot(name: &str, train: &[&str], test: &[&str]) -> Slot {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Slot {
            name: name.to_string(),
            train: own(train),
            test: own(test),
        }
    }

    #[test]
    fn fills_nested_and_keeps_literal_braces() {
        let t = [slot("a", &["x{b}"], &[]), slot("b", &["y"], &["z"])];
        let v = Vocab::new(vec![&t]);
        let mut g = Gen::new(1, 1);
        let s = v.fill("{\"k\": \"{a}\"} {a|upper} {b|b64}", Split::Train, &mut g);
        assert_eq!(s, "{\"k\": \"xy\"} XY eQ==");
        assert_eq!(placeholders("{a} {\"x\"} {b|rev}"), vec!["a", "b"]);
    }
}
