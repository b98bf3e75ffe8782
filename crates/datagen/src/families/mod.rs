//! Templates and vocabularies, one module per family, plus the additions.

pub mod benign;
pub mod cmd;
pub mod enc;
pub mod hc;
pub mod jb;
pub mod pi;
pub mod pii;
pub mod rag;
pub mod research;

use crate::common;
use crate::taxonomy::Family;
use crate::template::{Slot, Sub};

/// The sub-categories that make one family's rows in one file.
pub struct Spec {
    pub family: Family,
    pub subs: &'static [Sub],
}

fn own_slots(family: Family) -> &'static [Slot] {
    match family {
        Family::Benign => benign::SLOTS,
        Family::Pi => pi::SLOTS,
        Family::Jb => jb::SLOTS,
        Family::Cmd => cmd::SLOTS,
        Family::Pii => pii::SLOTS,
        Family::Enc => enc::SLOTS,
        Family::Rag => rag::SLOTS,
        Family::Hc => hc::SLOTS,
    }
}

/// Slot tables for `family`, searched in order: its own, then every other
/// family's, the research vocabulary, then the shared ones.
pub fn vocab_tables(family: Family) -> Vec<&'static [Slot]> {
    let mut tables = vec![own_slots(family)];
    for f in Family::ALL {
        if f != family {
            tables.push(own_slots(f));
        }
    }
    tables.push(research::SLOTS);
    tables.push(common::SLOTS);
    tables
}

/// Every slot table (for the "all placeholders resolve" test).
pub fn all_tables() -> Vec<&'static [Slot]> {
    vocab_tables(Family::Benign)
}

fn subs(family: Family) -> &'static [Sub] {
    match family {
        Family::Benign => benign::SUBS,
        Family::Pi => pi::SUBS,
        Family::Jb => jb::SUBS,
        Family::Cmd => cmd::SUBS,
        Family::Pii => pii::SUBS,
        Family::Enc => enc::SUBS,
        Family::Rag => rag::SUBS,
        Family::Hc => hc::SUBS,
    }
}

/// Base / test templates per family, in taxonomy order.
pub fn base_specs() -> Vec<Spec> {
    Family::ALL
        .iter()
        .map(|&family| Spec {
            family,
            subs: subs(family),
        })
        .collect()
}

/// Benign rows of the kind a production filter wrongly flagged.
pub fn production_fp_spec() -> Spec {
    Spec {
        family: Family::Benign,
        subs: benign::PROD_FP,
    }
}

/// Newer attack styles (multi-step, nested encodings, agents and tools).
pub fn research_specs() -> Vec<Spec> {
    research::GROUPS
        .iter()
        .map(|(family, subs)| Spec {
            family: *family,
            subs,
        })
        .collect()
}

/// Attacks confirmed in production: new phrasings per attack family.
pub fn confirmed_specs() -> Vec<Spec> {
    vec![
        Spec {
            family: Family::Pi,
            subs: pi::CONFIRMED,
        },
        Spec {
            family: Family::Jb,
            subs: jb::CONFIRMED,
        },
        Spec {
            family: Family::Cmd,
            subs: cmd::CONFIRMED,
        },
        Spec {
            family: Family::Pii,
            subs: pii::CONFIRMED,
        },
        Spec {
            family: Family::Enc,
            subs: enc::CONFIRMED,
        },
        Spec {
            family: Family::Rag,
            subs: rag::CONFIRMED,
        },
        Spec {
            family: Family::Hc,
            subs: hc::CONFIRMED,
        },
    ]
}

/// Every sub-category list, for template checks.
pub fn all_subs() -> Vec<&'static [Sub]> {
    let mut v: Vec<&'static [Sub]> = Family::ALL.iter().map(|&f| subs(f)).collect();
    v.push(benign::PROD_FP);
    v.extend(research::GROUPS.iter().map(|(_, s)| *s));
    v.extend(confirmed_specs().iter().map(|s| s.subs));
    v
}
