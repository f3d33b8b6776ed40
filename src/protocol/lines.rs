//! Newline-delimited messages (stdio, both ways): one line at a time, never more than a cap
//! buffered, whatever the other side sends.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What reading one line gave.
#[derive(Debug, PartialEq)]
pub(crate) enum Line {
    /// A line, without its end, is in the buffer.
    Complete,
    /// A line longer than the cap was skipped to its end (it was never held whole).
    TooLong,
    /// The input ended with nothing read.
    End,
}

/// Reads one line into `line` (without `\n` or `\r\n`). A line over `max` bytes is read through
/// and dropped, so a peer cannot make us buffer without bound, and the next line reads cleanly.
pub(crate) async fn next_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    line.clear();
    let mut skipping = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (skipping, line.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::End,
                (false, false) => Line::Complete,
            });
        }
        let (taken, ended) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (end, true),
            None => (available.len(), false),
        };
        if !skipping {
            line.extend_from_slice(&available[..taken]);
        }
        reader.consume(if ended { taken + 1 } else { taken });
        if !skipping && line.len() > max {
            skipping = true;
            line.clear();
            line.shrink_to(max.min(64 << 10));
        }
        if ended {
            if skipping {
                return Ok(Line::TooLong);
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Line::Complete);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_read_whole_and_long_ones_skipped() {
        let input: &[u8] = b"{\"a\":1}\r\n\n0123456789abcdef\nsecond\nlast";
        let mut reader = tokio::io::BufReader::with_capacity(4, input);
        let mut line = Vec::new();
        let mut seen = Vec::new();
        loop {
            match next_line(&mut reader, &mut line, 12).await.unwrap() {
                Line::Complete => seen.push(String::from_utf8(line.clone()).unwrap()),
                Line::TooLong => seen.push("(too long)".into()),
                Line::End => break,
            }
        }
        assert_eq!(seen, ["{\"a\":1}", "", "(too long)", "second", "last"]);
    }
}
