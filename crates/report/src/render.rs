//! Markdown rendered from a [`Report`], with fixed number formats so equal reports give
//! equal bytes.

use std::fmt::Write;

use crate::table::{Align, Table};
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
    let mut table = Table::new([
        (title, Align::Left),
        ("examples", Align::Right),
        ("regressions", Align::Right),
        ("improvements", Align::Right),
        ("unchanged", Align::Right),
        ("regression rate", Align::Right),
    ]);
    for (name, c) in rows {
        table.row([
            name.clone(),
            c.examples.to_string(),
            c.regressions.to_string(),
            c.improvements.to_string(),
            c.unchanged.to_string(),
            pct(c.regression_rate()),
        ]);
    }
    out.push_str(&table.markdown());
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('`', "'")
}

fn changed_table(out: &mut String, rows: &[Changed]) {
    out.push_str(&crate::table::changed(rows, escape, str::to_string).markdown());
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
    let mut metrics = Table::new([
        ("metric", Align::Left),
        ("baseline", Align::Right),
        ("candidate", Align::Right),
        ("delta", Align::Right),
    ]);
    for (name, d) in &r.metrics {
        metrics.row([
            name.clone(),
            format!("{:.4}", d.baseline),
            format!("{:.4}", d.candidate),
            signed(d.delta),
        ]);
    }
    out.push_str(&metrics.markdown());
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
