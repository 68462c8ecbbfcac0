//! The column tables the listing verbs print (`ps`, `image ls`, `network ls`, …), laid out one
//! way: each column as wide as its widest cell (in characters), three spaces between columns,
//! no trailing blanks — as the docker CLI prints them.

/// `header` and `rows` as aligned lines, each ending in a newline.
pub fn render<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; N]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(padded.join("   ").trim_end());
        out.push('\n');
    };
    line(header);
    for row in rows {
        line(row.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_the_widest_cell_and_lines_have_no_trailing_blanks() {
        let out = render(
            ["ID", "NAME"],
            &[
                ["abc".to_owned(), "é-long-name".to_owned()],
                ["d".to_owned(), String::new()],
            ],
        );
        assert_eq!(out, "ID    NAME\nabc   é-long-name\nd\n");
    }
}
