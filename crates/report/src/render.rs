//! Markdown rendered from a [`Report`], with fixed number formats so equal reports give
//! equal bytes.

use std::fmt::Write;

use crate::{Changed, Counts, Report};

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn signed(x: f64) -> String {
    // `-0.0000` and `+0.0000` would differ for equal reports; print zero plainly.
    if x.abs() < 5e-5 {
        "0.0000".into()
    } else {
        format!("{x:+.4}")
    }
}

fn counts_table(out: &mut String, title: &str, rows: &std::collections::BTreeMap<String, Counts>) {
    let _ = writeln!(
        out,
        "| {title} | examples | regressions | improvements | unchanged | regression rate |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, c) in rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} |",
            c.examples,
            c.regressions,
            c.improvements,
            c.unchanged,
            pct(c.regression_rate())
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('`', "'")
}

fn changed_table(out: &mut String, rows: &[Changed]) {
    let _ = writeln!(out, "| text | label | family | baseline | candidate |");
    let _ = writeln!(out, "| --- | ---: | --- | --- | --- |");
    for c in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            escape(&c.text),
            c.label,
            c.family,
            c.baseline.describe(),
            c.candidate.describe()
        );
    }
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let decision = if r.decision.accepted() {
        "ACCEPT"
    } else {
        "REJECT"
    };
    let _ = writeln!(out, "# Regression report: {}", r.candidate);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- baseline: {}",
        r.baseline.as_deref().unwrap_or("none")
    );
    let _ = writeln!(out, "- backend: {}", r.backend);
    let _ = writeln!(
        out,
        "- decision: **{decision}** ({}: {})",
        r.decision.rule, r.decision.reason
    );
    let _ = writeln!(
        out,
        "- thresholds: reject above {}, caution above {}",
        pct(r.thresholds.reject_rate),
        pct(r.thresholds.caution_rate)
    );
    let o = &r.overall;
    let _ = writeln!(
        out,
        "- examples: {}, regressions {} ({}), improvements {} ({}), unchanged {}",
        o.examples,
        o.regressions,
        pct(o.regression_rate()),
        o.improvements,
        pct(o.improvement_rate()),
        o.unchanged
    );
    let _ = writeln!(out, "\n## Metrics\n");
    let _ = writeln!(out, "| metric | baseline | candidate | delta |");
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    for (name, d) in &r.metrics {
        let _ = writeln!(
            out,
            "| {name} | {:.4} | {:.4} | {} |",
            d.baseline,
            d.candidate,
            signed(d.delta)
        );
    }
    let _ = writeln!(out, "\n## Per family\n");
    counts_table(&mut out, "family", &r.families);
    let _ = writeln!(out, "\n## Per source\n");
    counts_table(&mut out, "source", &r.sources);
    let _ = writeln!(out, "\n## Regressions (first {})\n", crate::LISTED);
    if r.regressions.is_empty() {
        let _ = writeln!(out, "none");
    } else {
        changed_table(&mut out, &r.regressions);
    }
    let _ = writeln!(out, "\n## Improvements (first {})\n", crate::LISTED);
    if r.improvements.is_empty() {
        let _ = writeln!(out, "none");
    } else {
        changed_table(&mut out, &r.improvements);
    }
    out
}
