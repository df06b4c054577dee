//! A block of lines redrawn in place on a terminal (`status --watch`): the previous block is
//! erased line by line (ANSI cursor-up and clear-line) before the next is written. Lines longer
//! than the terminal is wide wrap onto several rows, so the rows to erase are counted at the
//! terminal's width, and a block taller than the terminal is cut, since rows that scrolled
//! off the top can no longer be reached.

use std::io::Write;

/// Cursor up one row, then clear that whole row.
const UP_AND_CLEAR: &str = "\x1b[1A\x1b[2K";

/// A terminal's size in character cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub rows: usize,
    pub columns: usize,
}

impl Size {
    /// The size of the terminal on stdout, or 24 × 80 when it cannot be told.
    pub fn of_stdout() -> Size {
        let (rows, columns) = console::Term::stdout().size_checked().unwrap_or((24, 80));
        Size {
            rows: usize::from(rows).max(1),
            columns: usize::from(columns).max(1),
        }
    }
}

/// Rows `line` takes on a terminal `columns` wide (an empty line takes one).
fn rows_of(line: &str, columns: usize) -> usize {
    console::measure_text_width(line).div_ceil(columns).max(1)
}

/// Rows `block` takes, every line ending with a newline.
fn rows_of_block(block: &str, columns: usize) -> usize {
    block.lines().map(|line| rows_of(line, columns)).sum()
}

/// What one redraw writes: the previous block erased, then `block`.
#[derive(Default)]
pub struct Redraw {
    /// The block on screen now, as it was cut to fit.
    shown: Option<String>,
}

impl Redraw {
    /// Replaces the block on screen with `block` (lines separated by newlines), cut to the
    /// rows the terminal has (one kept free for the cursor).
    pub fn draw(&mut self, out: &mut dyn Write, block: &str, size: Size) -> std::io::Result<()> {
        let mut text = String::new();
        if let Some(shown) = &self.shown {
            // Counted at today's width: a terminal that shrank has rewrapped the old block.
            for _ in 0..rows_of_block(shown, size.columns) {
                text.push_str(UP_AND_CLEAR);
            }
        }
        let mut fitted = String::new();
        let mut rows = 0;
        for line in block.lines() {
            rows += rows_of(line, size.columns);
            if rows >= size.rows {
                break;
            }
            fitted.push_str(line);
            fitted.push('\n');
        }
        text.push_str(&fitted);
        out.write_all(text.as_bytes())?;
        out.flush()?;
        self.shown = Some(fitted);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: Size = Size {
        rows: 50,
        columns: 10,
    };

    fn drawn(redraw: &mut Redraw, block: &str, size: Size) -> String {
        let mut out = Vec::new();
        redraw.draw(&mut out, block, size).expect("drawing");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn the_previous_block_is_erased_row_by_row_counting_wrapped_lines() {
        let mut redraw = Redraw::default();
        assert_eq!(
            drawn(&mut redraw, "a\nb\n", WIDE),
            "a\nb\n",
            "nothing to erase yet"
        );
        // Two one-row lines erased; the new block has a line of 25 cells: 3 rows at 10.
        let long = "x".repeat(25);
        let second = drawn(&mut redraw, &format!("{long}\n\nend\n"), WIDE);
        assert_eq!(second, format!("{}{long}\n\nend\n", UP_AND_CLEAR.repeat(2)));
        // 3 + 1 (the empty line) + 1 rows to erase; exactly 10 cells is one row.
        let third = drawn(&mut redraw, &"y".repeat(10), WIDE);
        assert!(third.starts_with(&UP_AND_CLEAR.repeat(5)), "{third:?}");
        assert!(!third.starts_with(&UP_AND_CLEAR.repeat(6)), "{third:?}");
        // ANSI colour codes take no cells.
        assert_eq!(rows_of("\x1b[31mred\x1b[0m", 3), 1);
    }

    #[test]
    fn a_block_taller_than_the_terminal_is_cut_and_only_what_was_shown_is_erased() {
        let mut redraw = Redraw::default();
        let small = Size {
            rows: 3,
            columns: 80,
        };
        assert_eq!(drawn(&mut redraw, "1\n2\n3\n4\n", small), "1\n2\n");
        assert_eq!(
            drawn(&mut redraw, "5\n", small),
            format!("{}5\n", UP_AND_CLEAR.repeat(2))
        );
    }
}
