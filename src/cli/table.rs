//! Aligned tables for people at a terminal (`list`, `report`): columns as wide as their
//! contents, the last columns wrapped to fit the terminal's width when stdout is one;
//! unwrapped (for pipes and files) otherwise.

use comfy_table::{presets, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table};

/// Renders `rows` under `header`; the columns numbered in `right` are aligned right
/// (numbers). Every line ends with a newline and carries no trailing spaces.
pub(super) fn render(header: &[&str], rows: Vec<Vec<String>>, right: &[usize]) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    table.set_header(header.iter().copied());
    for row in rows {
        table.add_row(row.into_iter().enumerate().map(|(i, text)| {
            let cell = Cell::new(text);
            if right.contains(&i) {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        }));
    }
    for (i, column) in table.column_iter_mut().enumerate() {
        // Two spaces between columns, none before the first.
        column.set_padding((0, 2));
        if right.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
        // The first column (a serial, a period) is what people search for: never wrapped.
        if i == 0 {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    if let Some(width) = terminal_width() {
        table
            .set_width(width)
            .set_content_arrangement(ContentArrangement::Dynamic);
    }
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The width of the terminal stdout is, if it is one.
fn terminal_width() -> Option<u16> {
    let term = console::Term::stdout();
    if !term.is_term() {
        return None;
    }
    term.size_checked().map(|(_, columns)| columns)
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up() {
        let text = super::render(
            &["A", "COUNT"],
            vec![
                vec!["long value".into(), "7".into()],
                vec!["x".into(), "1234".into()],
            ],
            &[1],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        // Right-aligned numbers end in the same column.
        assert_eq!(lines[1].len(), lines[2].len(), "{text}");
        assert!(
            lines[1].ends_with(" 7") && lines[2].ends_with("1234"),
            "{text}"
        );
    }
}
