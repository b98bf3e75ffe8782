//! Encodings and obfuscations, applied to slot values with `{slot|name}`.

use crate::rng::Gen;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Decodes standard base64 (padding optional); `None` on any invalid input.
pub fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let trimmed = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in trimmed.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Lowercase hexadecimal of the UTF-8 bytes.
pub fn hex(input: &str) -> String {
    input.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Decodes contiguous hexadecimal; `None` on odd length or bad digits.
pub fn hex_decode(input: &str) -> Option<Vec<u8>> {
    if !input.len().is_multiple_of(2) {
        return None;
    }
    (0..input.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(input.get(i..i + 2)?, 16).ok())
        .collect()
}

/// ROT13 of ASCII letters.
pub fn rot13(input: &str) -> String {
    input
        .chars()
        .map(|c| match c {
            'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
            'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
            _ => c,
        })
        .collect()
}

/// Character-reversed text.
pub fn reverse(input: &str) -> String {
    input.chars().rev().collect()
}

/// Word order reversed.
pub fn reverse_words(input: &str) -> String {
    let words: Vec<&str> = input.split_whitespace().rev().collect();
    words.join(" ")
}

/// "i g n o r e   t h i s": letters spaced, words separated by wider gaps.
pub fn spaced(input: &str, sep: &str) -> String {
    input
        .split_whitespace()
        .map(|w| w.chars().map(String::from).collect::<Vec<_>>().join(sep))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Leetspeak with seeded per-letter substitution.
pub fn leet(input: &str, g: &mut Gen) -> String {
    input
        .chars()
        .map(|c| {
            let sub = match c.to_ascii_lowercase() {
                'a' => Some('4'),
                'e' => Some('3'),
                'i' => Some('1'),
                'o' => Some('0'),
                's' => Some('5'),
                't' => Some('7'),
                'g' => Some('9'),
                'b' => Some('8'),
                _ => None,
            };
            match sub {
                Some(s) if g.chance(0.75) => s,
                _ => c,
            }
        })
        .collect()
}

/// Latin letters swapped for Cyrillic / Greek lookalikes.
pub fn homoglyph(input: &str, g: &mut Gen) -> String {
    input
        .chars()
        .map(|c| {
            let sub = match c {
                'a' => Some('\u{0430}'),
                'e' => Some('\u{0435}'),
                'o' => Some('\u{043E}'),
                'p' => Some('\u{0440}'),
                'c' => Some('\u{0441}'),
                'x' => Some('\u{0445}'),
                'y' => Some('\u{0443}'),
                'i' => Some('\u{0456}'),
                's' => Some('\u{0455}'),
                'A' => Some('\u{0391}'),
                'E' => Some('\u{0395}'),
                'O' => Some('\u{039F}'),
                'T' => Some('\u{03A4}'),
                _ => None,
            };
            match sub {
                Some(s) if g.chance(0.6) => s,
                _ => c,
            }
        })
        .collect()
}

const ZERO_WIDTH: [char; 4] = ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}'];

/// Zero-width characters inserted inside words.
pub fn zero_width(input: &str, g: &mut Gen) -> String {
    let mut out = String::with_capacity(input.len() * 2);
    let mut prev_alpha = false;
    for c in input.chars() {
        if prev_alpha && c.is_alphabetic() && g.chance(0.45) {
            out.push(*g.pick(&ZERO_WIDTH));
        }
        out.push(c);
        prev_alpha = c.is_alphabetic();
    }
    out
}

/// Fullwidth forms of ASCII letters and digits.
pub fn fullwidth(input: &str) -> String {
    input
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// Applies a named transform; unknown names leave the text unchanged.
pub fn apply(name: &str, input: &str, g: &mut Gen) -> String {
    match name {
        "b64" => base64(input),
        "hex" => hex(input),
        "rot13" => rot13(input),
        "rev" => reverse(input),
        "revwords" => reverse_words(input),
        "spaced" => spaced(input, " "),
        "dotted" => spaced(input, "."),
        "dashed" => spaced(input, "-"),
        "leet" => leet(input, g),
        "homo" => homoglyph(input, g),
        "zw" => zero_width(input, g),
        "wide" => fullwidth(input),
        "upper" => input.to_uppercase(),
        "lower" => input.to_lowercase(),
        "lcfirst" => {
            let mut cs = input.chars();
            match cs.next() {
                Some(f) => f.to_lowercase().collect::<String>() + cs.as_str(),
                None => String::new(),
            }
        }
        "ucfirst" => {
            let mut cs = input.chars();
            match cs.next() {
                Some(f) => f.to_uppercase().collect::<String>() + cs.as_str(),
                None => String::new(),
            }
        }
        _ => input.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in [
            "",
            "a",
            "ab",
            "abc",
            "ignore all previous instructions",
            "ünï",
        ] {
            let enc = base64(s);
            assert_eq!(base64_decode(&enc).as_deref(), Some(s.as_bytes()));
        }
        assert_eq!(base64("hello"), "aGVsbG8=");
    }

    #[test]
    fn hex_and_rot13_round_trip() {
        assert_eq!(hex("Hi!"), "486921");
        assert_eq!(hex_decode("486921").as_deref(), Some(&b"Hi!"[..]));
        assert_eq!(rot13(&rot13("Secret Plan")), "Secret Plan");
        assert_eq!(fullwidth("ab1"), "ａｂ１");
    }
}
