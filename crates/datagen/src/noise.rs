//! Surface noise: typos, casing, punctuation and spacing habits. Applied the
//! same way to benign and attack rows so that none of it is a label signal.

use crate::rng::Gen;

/// Applies a random mix of surface noise to `text`.
pub fn apply(text: &str, g: &mut Gen) -> String {
    let mut s = text.to_string();
    if g.chance(0.22) {
        s = typos(&s, g, 0.06);
    }
    let r = g.unit();
    if r < 0.12 {
        s = s.to_lowercase();
    } else if r < 0.15 && s.len() < 160 {
        s = s.to_uppercase();
    } else if r < 0.20 {
        s = lower_first(&s);
    }
    let r = g.unit();
    if r < 0.12 {
        s = s.trim_end_matches(['.', '!', '?']).trim_end().to_string();
    } else if r < 0.17 {
        let tail = *g.pick(&["!!", "??", "...", " !!!", "?!", " :)", " lol", " pls"]);
        s = format!("{}{}", s.trim_end_matches(['.', '!', '?']), tail);
    } else if r < 0.21 {
        s = s.replace(['\'', ','], "");
    }
    if g.chance(0.04) {
        s = s.replace(". ", ".  ");
    }
    s
}

fn lower_first(s: &str) -> String {
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => f.to_lowercase().collect::<String>() + cs.as_str(),
        None => String::new(),
    }
}

/// Swaps, drops or doubles letters in some longer plain words.
pub fn typos(text: &str, g: &mut Gen, rate: f64) -> String {
    let mut out = Vec::new();
    for word in text.split(' ') {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() >= 4 && chars.iter().all(|c| c.is_ascii_alphabetic()) && g.chance(rate) {
            let i = 1 + g.below(chars.len() - 2);
            let mut w = chars.clone();
            match g.below(3) {
                0 => w.swap(i, i + 1),
                1 => {
                    w.remove(i);
                }
                _ => w.insert(i, chars[i]),
            }
            out.push(w.into_iter().collect::<String>());
        } else {
            out.push(word.to_string());
        }
    }
    out.join(" ")
}
