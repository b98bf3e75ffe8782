//! Containers a message may arrive in: an email, a chat log, a markdown
//! document, a code comment, a JSON tool result, an HTML snippet, a CSV row or
//! a support ticket. The test split uses a partly different set (YAML, XML,
//! SMS transcript, meeting notes) so held-out rows are not shaped exactly
//! like the training rows.

use crate::rng::Gen;
use crate::template::Split;

const SENDERS: &[&str] = &[
    "dana.k",
    "j.ortiz",
    "mwright",
    "support-team",
    "p.nakamura",
    "ops",
    "lucia",
    "a.bergstrom",
];
const SUBJECTS: &[&str] = &[
    "Quick request",
    "Re: follow-up",
    "Question",
    "Fwd: see below",
    "Action needed",
    "Re: Re: update",
    "Hello",
    "Notes",
];

fn esc_json(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.replace('"', "'")))
}

/// Puts `text` in a randomly chosen container for `split`.
pub fn wrap(text: &str, split: Split, g: &mut Gen) -> String {
    let who = *g.pick(SENDERS);
    let subj = *g.pick(SUBJECTS);
    let n = g.int(100, 99_999);
    match split {
        Split::Train => match g.below(8) {
            0 => format!("From: {who}@mail.example.com\nSubject: {subj}\n\n{text}\n\n-- \n{who}"),
            1 => format!(
                "[{:02}:{:02}] {who}: {text}\n[{:02}:{:02}] {who}: ^ can you handle that?",
                g.int(7, 22),
                g.int(0, 59),
                g.int(7, 22),
                g.int(0, 59)
            ),
            2 => format!("# {subj}\n\n{text}\n\n_Last edited by {who}_"),
            3 => {
                let body: Vec<String> = text.lines().map(|l| format!("// {l}")).collect();
                format!("{}\nfn handler() {{}}", body.join("\n"))
            }
            4 => format!(
                "{{\"tool\": \"fetch_message\", \"id\": {n}, \"result\": {}}}",
                esc_json(text)
            ),
            5 => format!("<div class=\"message\">\n  <p>{text}</p>\n</div>"),
            6 => format!(
                "id,author,message\n{n},{who},\"{}\"",
                text.replace('"', "\"\"")
            ),
            _ => format!(
                "Ticket #{n}\nPriority: {}\nCustomer message:\n{text}",
                g.pick(&["low", "normal", "high", "urgent"])
            ),
        },
        Split::Test => match g.below(5) {
            0 => format!(
                "message:\n  from: {who}\n  body: |\n    {}",
                text.replace('\n', "\n    ")
            ),
            1 => format!("<note from=\"{who}\"><body>{text}</body></note>"),
            2 => format!("SMS from +1 555 01{:02}: {text}", g.int(10, 99)),
            3 => {
                format!("Meeting notes ({subj})\n- attendee {who} said: {text}\n- next steps: TBD")
            }
            _ => format!(
                "> {}\n\nquoting {who} from the forum",
                text.replace('\n', "\n> ")
            ),
        },
    }
}
