//! Plain-text layout shared by the renderers: counts with their noun, and tables whose
//! columns fit their content (and, on a terminal, its width).

use anstyle::Style;
use std::io::{self, IsTerminal, Write};

/// "1 step", "2 steps", "0 steps".
pub fn count(n: usize, one: &str, many: &str) -> String {
    tcpmortem_core::count::count(n, one, many).to_string()
}

/// The width to fit: COLUMNS when set, else the terminal's width when stdout is one; None for
/// pipes and files otherwise.
pub fn terminal_width() -> Option<usize> {
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|c| *c > 0);
    columns.or_else(|| {
        io::stdout()
            .is_terminal()
            .then(terminal_size::terminal_size)
            .flatten()
            .map(|(terminal_size::Width(w), _)| usize::from(w))
    })
}

/// Joins `items` with `sep` into lines of at most `width` characters, breaking only between
/// items (an item longer than the width gets a line of its own).
pub fn wrap(items: &[String], sep: &str, width: usize) -> Vec<String> {
    // The separator's visible part ends the line ("a, b,"); its spaces start the next item.
    let (mark, space) = sep.split_at(sep.trim_end().len());
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for (i, item) in items.iter().enumerate() {
        let tail = if i + 1 < items.len() { mark } else { "" };
        if !line.is_empty() && chars(&line) + chars(space) + chars(item) + chars(tail) > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push_str(space);
        }
        line.push_str(item);
        line.push_str(tail);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// A column of a [`Table`].
pub struct Column {
    pub header: &'static str,
    pub right: bool,
    /// May be wrapped onto several lines when the table is wider than the terminal.
    pub wraps: bool,
}

/// A cell: its items (joined with the table's separator, and wrapped between them), and the
/// style the text is drawn in.
pub struct Cell {
    pub items: Vec<String>,
    pub style: Style,
}

impl Cell {
    pub fn new(text: impl Into<String>) -> Cell {
        Cell {
            items: vec![text.into()],
            style: Style::new(),
        }
    }

    pub fn list(items: Vec<String>) -> Cell {
        Cell {
            items,
            style: Style::new(),
        }
    }

    pub fn styled(mut self, style: Style) -> Cell {
        self.style = style;
        self
    }
}

/// Rows under a header, each column as wide as its widest cell. With a width (a terminal's),
/// the wrapping columns are narrowed, widest first, until the table fits or they cannot
/// shrink below their longest item.
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub sep: &'static str,
}

const GAP: usize = 2;

impl Table {
    pub fn render(&self, out: &mut impl Write, width: Option<usize>) -> io::Result<()> {
        let n = self.columns.len();
        let natural = |i: usize| -> usize {
            let cells = self.rows.iter().map(|r| chars(&r[i].items.join(self.sep)));
            cells
                .chain([chars(self.columns[i].header)])
                .max()
                .unwrap_or(0)
        };
        let floor = |i: usize| -> usize {
            let items = self.rows.iter().flat_map(|r| r[i].items.iter());
            items
                .map(|s| chars(s) + 1)
                .chain([chars(self.columns[i].header)])
                .max()
                .unwrap_or(0)
        };
        let mut widths: Vec<usize> = (0..n).map(natural).collect();
        if let Some(max) = width {
            let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * (n - 1);
            while total(&widths) > max {
                let Some(i) = (0..n)
                    .filter(|&i| self.columns[i].wraps && widths[i] > floor(i))
                    .max_by_key(|&i| widths[i])
                else {
                    break;
                };
                widths[i] -= 1;
            }
        }
        let bold = Style::new().bold();
        let header: Vec<String> = self.columns.iter().map(|c| c.header.to_string()).collect();
        self.line(out, &header, &widths, &vec![bold; n])?;
        for row in &self.rows {
            let wrapped: Vec<Vec<String>> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| wrap(&cell.items, self.sep, *w))
                .collect();
            let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
            let styles: Vec<Style> = row.iter().map(|c| c.style).collect();
            for k in 0..height {
                let texts: Vec<String> = wrapped
                    .iter()
                    .map(|l| l.get(k).cloned().unwrap_or_default())
                    .collect();
                self.line(out, &texts, &widths, &styles)?;
            }
        }
        Ok(())
    }

    fn line(
        &self,
        out: &mut impl Write,
        texts: &[String],
        widths: &[usize],
        styles: &[Style],
    ) -> io::Result<()> {
        let mut line = String::new();
        let last = texts.len() - 1;
        for (i, text) in texts.iter().enumerate() {
            let pad = widths[i].saturating_sub(chars(text));
            let s = styles[i];
            if self.columns[i].right {
                line += &" ".repeat(pad);
            }
            line += &format!("{s}{text}{s:#}");
            if !self.columns[i].right && i < last {
                line += &" ".repeat(pad);
            }
            if i < last {
                line += &" ".repeat(GAP);
            }
        }
        writeln!(out, "{}", line.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn counts_take_the_singular_only_for_one() {
        assert_eq!(count(0, "step", "steps"), "0 steps");
        assert_eq!(count(1, "step", "steps"), "1 step");
        assert_eq!(count(2, "step", "steps"), "2 steps");
    }

    #[test]
    fn wrapping_breaks_between_items_and_keeps_the_commas() {
        let items = s(&[
            "client recv ECONNRESET",
            "client recv EOF",
            "client send EPIPE",
        ]);
        assert_eq!(
            wrap(&items, ", ", 40),
            s(&[
                "client recv ECONNRESET, client recv EOF,",
                "client send EPIPE"
            ])
        );
        assert_eq!(wrap(&items, ", ", 200), s(&[&items.join(", ")]));
        assert_eq!(
            wrap(&s(&["a-very-long-item"]), ", ", 4),
            s(&["a-very-long-item"])
        );
        assert_eq!(
            wrap(&s(&["one", "two", "three"]), " ", 7),
            s(&["one two", "three"])
        );
    }

    #[test]
    fn every_line_fits_the_width_when_the_items_do() {
        let words = s(&["ab", "cde", "f", "ghij", "kl", "mnopq", "r", "st"]);
        for width in 6..30 {
            for sep in [" ", ", "] {
                for line in wrap(&words, sep, width) {
                    assert!(chars(&line) <= width, "{line:?} > {width}");
                }
            }
        }
    }

    fn table(rows: &[[&str; 3]]) -> Table {
        let col = |header, wraps| Column {
            header,
            right: false,
            wraps,
        };
        Table {
            columns: vec![
                col("name", false),
                col("results", true),
                col("reasons", true),
            ],
            rows: rows
                .iter()
                .map(|r| {
                    vec![
                        Cell::new(r[0]),
                        Cell::list(s(&r[1].split(", ").collect::<Vec<_>>())),
                        Cell::new(r[2]),
                    ]
                })
                .collect(),
            sep: ", ",
        }
    }

    /// The byte offset of each column's start on a line: where a run of 2+ spaces ends.
    fn starts(line: &str) -> Vec<usize> {
        let chars: Vec<char> = line.chars().collect();
        (1..chars.len())
            .filter(|&i| chars[i] != ' ' && i >= 2 && chars[i - 1] == ' ' && chars[i - 2] == ' ')
            .collect()
    }

    #[test]
    fn columns_line_up_whatever_the_length_of_their_cells() {
        let t = table(&[
            ["short", "a", "X"],
            [
                "server-crashes-with-unread-data",
                "client recv ECONNRESET, client recv EOF, client send EPIPE",
                "TCP_ABORT_ON_CLOSE",
            ],
            ["mid-length-name", "client connect ETIMEDOUT", "-"],
        ]);
        for width in [None, Some(100), Some(80)] {
            let mut out = Vec::new();
            t.render(&mut out, width).unwrap();
            let text = String::from_utf8(out).unwrap();
            let text = anstream::adapter::strip_str(&text).to_string();
            let lines: Vec<&str> = text.lines().collect();
            let header = starts(lines[0]);
            assert_eq!(header.len(), 2, "{text}");
            for line in &lines {
                if let Some(max) = width {
                    assert!(line.chars().count() <= max, "{width:?}: {line:?}");
                }
                // Every cell, continuation lines included, starts at its column.
                for s in starts(line) {
                    assert!(header.contains(&s), "{width:?}: {line:?} in\n{text}");
                }
            }
        }
    }
}
