//! Containers a message may arrive in: an email, a chat log, a markdown
//! document, a code comment, a JSON tool result, an HTML snippet, a CSV row or
//! a support ticket. The test split uses a partly different set (YAML, XML,
//! SMS transcript, meeting notes) so held-out rows are not shaped exactly
//! like the training rows, and the transfer split a set of its own (a chat
//! export, a PDF page, a docs diff, a voicemail transcript, a web form) that
//! no other file uses.

use crate::rng::Gen;

/// Which set of containers a file's rows may arrive in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Containers {
    /// `base/` and the additions.
    Train,
    /// `test.jsonl`.
    Test,
    /// `transfer.jsonl`: containers no other file uses.
    Transfer,
}

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

/// Puts `text` in a randomly chosen container of `set`.
pub fn wrap(text: &str, set: Containers, g: &mut Gen) -> String {
    let who = *g.pick(SENDERS);
    let subj = *g.pick(SUBJECTS);
    let n = g.int(100, 99_999);
    match set {
        Containers::Train => match g.below(8) {
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
        Containers::Test => match g.below(5) {
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
        Containers::Transfer => match g.below(5) {
            0 => format!(
                "{{\"channel\": \"#general\", \"user\": \"U0{n}\", \"text\": {}}}",
                esc_json(text)
            ),
            1 => format!(
                "Page {} of 12\n\n{text}\n\nInternal - {subj} - printed by {who}",
                g.int(2, 11)
            ),
            2 => format!(
                "diff --git a/docs/notes.md b/docs/notes.md\n@@ -{n},2 +{n},3 @@\n {subj}\n+{}",
                text.replace('\n', "\n+")
            ),
            3 => format!("Voicemail ({}s) from {who}: {text}", g.int(8, 95)),
            _ => format!("Form submission #{n}\nName: {who}\nMessage: {text}\nConsent: yes"),
        },
    }
}
