//! The one table writer of the reports: the same columns and rows as Markdown (the stored
//! regression report) or as HTML (the pages). Cells arrive already escaped for the format
//! they are written in; a right-aligned column holds figures (`---:` in Markdown, `class="n"`
//! in HTML).

use std::fmt::Write;

/// How a column's cells align.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    /// Figures.
    Right,
}

/// One cell.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    /// The cell's content, escaped for the format.
    Text(String),
    /// A whole HTML cell (`<td …>…</td>`) with attributes of its own; HTML only.
    Html(String),
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::Text(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::Text(text.to_string())
    }
}

/// Columns and rows, written as Markdown or HTML.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = (S, Align)>) -> Self {
        Table {
            columns: columns.into_iter().map(|(n, a)| (n.into(), a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row, its cells in column order.
    pub fn row<C: Into<Cell>>(&mut self, cells: impl IntoIterator<Item = C>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// `| a | b |` lines: the header, the alignment row, then a line per row.
    pub fn markdown(&self) -> String {
        let line = |cells: Vec<&str>| format!("| {} |\n", cells.join(" | "));
        let mut out = line(self.columns.iter().map(|(n, _)| n.as_str()).collect());
        out.push_str(&line(
            self.columns
                .iter()
                .map(|(_, a)| match a {
                    Align::Left => "---",
                    Align::Right => "---:",
                })
                .collect(),
        ));
        for row in &self.rows {
            out.push_str(&line(
                row.iter()
                    .map(|c| match c {
                        Cell::Text(t) | Cell::Html(t) => t.as_str(),
                    })
                    .collect(),
            ));
        }
        out
    }

    /// `<table>`: the header row on the first line, a line per row, `</table>` on the last.
    pub fn html(&self) -> String {
        let mut out = String::from("<table><tr>");
        for (name, _) in &self.columns {
            let _ = write!(out, "<th>{name}</th>");
        }
        out.push_str("</tr>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for (i, cell) in row.iter().enumerate() {
                let right = self.columns.get(i).is_some_and(|(_, a)| *a == Align::Right);
                match cell {
                    Cell::Text(t) if right => {
                        let _ = write!(out, "<td class=\"n\">{t}</td>");
                    }
                    Cell::Text(t) => {
                        let _ = write!(out, "<td>{t}</td>");
                    }
                    Cell::Html(cell) => out.push_str(cell),
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        out
    }
}

/// The regressions or improvements of a report, one row each: `text` escapes the text for
/// the format, `family` the family name.
pub(crate) fn changed(
    rows: &[crate::Changed],
    text: impl Fn(&str) -> String,
    family: impl Fn(&str) -> String,
) -> Table {
    let mut table = Table::new([
        ("text", Align::Left),
        ("label", Align::Right),
        ("family", Align::Left),
        ("baseline", Align::Left),
        ("candidate", Align::Left),
    ]);
    for c in rows {
        table.row([
            text(&c.text),
            c.label.to_string(),
            family(&c.family),
            c.baseline.describe(),
            c.candidate.describe(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new([("name", Align::Left), ("rows", Align::Right)]);
        t.row(["a", "1"]);
        t.row([
            Cell::Text("b".into()),
            Cell::Html("<td colspan=\"1\">x</td>".into()),
        ]);
        t
    }

    #[test]
    fn markdown_aligns_figures_right() {
        assert_eq!(
            table().markdown(),
            "| name | rows |\n| --- | ---: |\n| a | 1 |\n| b | <td colspan=\"1\">x</td> |\n"
        );
    }

    #[test]
    fn html_marks_figures_and_keeps_whole_cells() {
        assert_eq!(
            table().html(),
            "<table><tr><th>name</th><th>rows</th></tr>\n<tr><td>a</td><td class=\"n\">1</td></tr>\n<tr><td>b</td><td colspan=\"1\">x</td></tr>\n</table>\n"
        );
    }
}
