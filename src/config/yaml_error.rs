//! YAML syntax errors in the reader's terms. The parser says where it gave up ("mapping values
//! are not allowed in this context" on the line after a key that lost its `:`); this module
//! looks at the lines around that place and says what is wrong, on the line that is wrong.

use super::diagnostic::Pos;

/// A syntax error explained: where the mistake is, what it is, and what to write instead.
#[derive(Debug, PartialEq)]
pub(crate) struct Explained {
    pub pos: Pos,
    pub message: String,
    pub help: String,
}

/// Explains the parser's `info`, reported at `line` (1-based) and `column` (1-based) of `text`.
pub(crate) fn explain(text: &str, line: usize, column: usize, info: &str) -> Explained {
    let lines: Vec<&str> = text.lines().collect();
    // The parser may report the position just past the last line.
    let (line, column) = (line.clamp(1, lines.len() + 1), column.max(1));
    let at = Pos { line: line as u32, column: column as u32 };
    let found = if info.contains("mapping values are not allowed") {
        colon_in_a_value(&lines, line, column)
    } else if info.contains("did not find expected key") {
        misindented(&lines, line)
    } else if info.contains("tab") {
        tab(&lines, line)
    } else if info.contains("could not find expected ':'") || info.contains("simple key expect ':'") {
        key_without_colon(&lines, line)
    } else if info.contains("flow mapping") || info.contains("flow sequence") || info.contains("misplaced bracket") {
        unbalanced(text, line, column)
    } else if info.contains("quoted scalar") {
        Some(Explained {
            pos: at,
            message: "the quoted value that starts here has no closing quote on its line".into(),
            help: "close the quote; a quoted value continues on the next line only when that line is indented further"
                .into(),
        })
    } else {
        info.strip_prefix("unexpected character: `").and_then(|r| r.chars().next()).map(|c| Explained {
            pos: at,
            message: format!("a plain value cannot start with `{c}`"),
            help: format!("quote the value: \"{c}…\""),
        })
    };
    let mut explained = found.unwrap_or_else(|| Explained {
        pos: at,
        message: info.to_string(),
        help: "check the indentation and the `key: value` form of this line and the one above".into(),
    });
    explained.message = format!("invalid YAML: {}", explained.message);
    explained
}

/// "mapping values are not allowed in this context": a `:` the parser cannot take as a key's.
fn colon_in_a_value(lines: &[&str], line: usize, column: usize) -> Option<Explained> {
    let text = *lines.get(line - 1)?;
    // A second `: ` on one line: the value itself holds `: `.
    let before = text.get(..column.saturating_sub(1))?;
    if let Some(sep) = key_separator(before) {
        let key = before[..sep].trim().trim_start_matches("- ");
        return Some(Explained {
            pos: pos(line, sep + 3),
            message: format!("the value of `{key}` holds `: `, which YAML reads as another key"),
            help: format!("quote the value: {key}: \"{}\"", text[sep + 1..].trim()),
        });
    }
    // The key on this line continues a plain value begun on a line above.
    let (above, above_text) = previous_content(lines, line)?;
    let above_indent = indent(above_text);
    let trimmed = above_text.trim();
    if let Some(i) = trimmed.find(':')
        && !trimmed[..i].contains(' ')
        && !trimmed[i + 1..].starts_with(' ')
        && i + 1 < trimmed.len()
        && key_separator(trimmed).is_none()
    {
        let (key, value) = trimmed.split_at(i);
        return Some(Explained {
            pos: pos(above, above_indent + 1),
            message: format!("`{trimmed}` has no space after its `:`, so it is one word, not a key and a value"),
            help: format!("write `{key}: {}`", &value[1..]),
        });
    }
    match key_separator(above_text) {
        None if !trimmed.starts_with('-') => {
            let fix = match trimmed.split_once(' ') {
                Some((key, value)) => format!("{key}: {}", value.trim()),
                None => format!("{trimmed}:"),
            };
            Some(Explained {
                pos: pos(above, above_indent + 1),
                message: format!("`{trimmed}` is missing the `:` after its key"),
                help: format!("write `{fix}`"),
            })
        }
        Some(sep) if indent(text) > above_indent => {
            let key = above_text[..sep].trim();
            let own = text.trim().split(':').next().unwrap_or("").trim();
            Some(Explained {
                pos: pos(line, indent(text) + 1),
                message: format!(
                    "this line is indented more than `{key}` on line {above}, whose value is already given, so it reads as more of that value"
                ),
                help: format!("indent `{own}` by {above_indent} spaces, like `{key}`"),
            })
        }
        _ => None,
    }
}

/// "did not find expected key": a line whose indentation matches no mapping above it.
fn misindented(lines: &[&str], line: usize) -> Option<Explained> {
    let text = *lines.get(line - 1)?;
    let own = indent(text);
    let name = label(text);
    // The keys this line could stand beside: the nearest line above, then each less indented one.
    let mut levels: Vec<(usize, usize, String)> = Vec::new();
    for (n, above) in lines[..line - 1].iter().enumerate().rev() {
        if is_content(above) && levels.last().is_none_or(|(i, _, _)| indent(above) < *i) {
            levels.push((indent(above), n + 1, label(above)));
        }
    }
    let at = pos(line, own + 1);
    if let Some((_, n, key)) = levels.iter().find(|(i, _, _)| *i == own) {
        if text.trim_start().starts_with("- ") {
            return Some(Explained {
                pos: at,
                message: format!("`{name}` is a list item, but the entries beside `{key}` (line {n}) are keys"),
                help: "write it as `key: value`, or move the list under a key that ends with `:`".into(),
            });
        }
        return None;
    }
    let deeper = levels.iter().rev().find(|(i, _, _)| *i > own);
    let shallower = levels.iter().find(|(i, _, _)| *i < own);
    let message;
    let help;
    match (deeper, shallower) {
        (None, Some((i, n, key))) => {
            message = format!(
                "this line is indented more than `{key}` on line {n}, whose value is already given on that line"
            );
            help = format!("indent `{name}` by {i} spaces, like `{key}`");
        }
        (Some((i, n, key)), Some((j, m, other))) => {
            message = format!(
                "this line is indented by {own} spaces, between `{key}` ({i} spaces, line {n}) and `{other}` ({j} spaces, line {m})"
            );
            help =
                format!("indent `{name}` by {i} spaces to stand beside `{key}`, or by {j} to stand beside `{other}`");
        }
        (Some((i, n, key)), None) => {
            message = format!("this line is indented by {own} spaces, less than `{key}` on line {n}");
            help = format!("indent `{name}` by {i} spaces, like `{key}`");
        }
        (None, None) => return None,
    }
    Some(Explained { pos: at, message, help })
}

/// A tab in the indentation, which YAML forbids.
fn tab(lines: &[&str], line: usize) -> Option<Explained> {
    // The parser may stop on the line before the one with the tab.
    let (n, col) = lines.iter().enumerate().skip(line.saturating_sub(1)).find_map(|(n, l)| {
        let lead = &l[..l.len() - l.trim_start().len()];
        lead.find('\t').map(|c| (n + 1, c + 1))
    })?;
    Some(Explained {
        pos: pos(n, col),
        message: "a tab indents this line; YAML indents with spaces only".into(),
        help: "replace the tab with spaces".into(),
    })
}

/// A key on its own line, without the `:` that makes it a key.
fn key_without_colon(lines: &[&str], line: usize) -> Option<Explained> {
    let (n, text) =
        lines.get(line - 1).filter(|l| is_content(l)).map(|l| (line, *l)).or_else(|| previous_content(lines, line))?;
    let trimmed = text.trim();
    let fix = match trimmed.split_once(' ') {
        Some((key, value)) => format!("{key}: {}", value.trim()),
        None => format!("{trimmed}:"),
    };
    Some(Explained {
        pos: pos(n, indent(text) + 1),
        message: format!("`{trimmed}` is missing the `:` after its key"),
        help: format!("write `{fix}`"),
    })
}

/// A `{` or `[` left open (or closed by the other kind) before the parser's position.
fn unbalanced(text: &str, line: usize, column: usize) -> Option<Explained> {
    let mut open: Vec<(char, usize, usize)> = Vec::new();
    let mut quote: Option<char> = None;
    for (n, l) in text.lines().enumerate().take(line) {
        let mut comment_ok = true;
        for (c, ch) in l.char_indices() {
            if n + 1 == line && c + 1 >= column {
                break;
            }
            match (quote, ch) {
                (Some(q), ch) if ch == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(ch),
                (None, '#') if comment_ok => break,
                (None, '{' | '[') => open.push((ch, n + 1, c + 1)),
                (None, '}' | ']') => {
                    open.pop();
                }
                _ => {}
            }
            comment_ok = ch == ' ';
        }
    }
    let here = text.lines().nth(line - 1).and_then(|l| l.get(column - 1..)).and_then(|r| r.chars().next());
    let Some((bracket, n, c)) = open.pop() else {
        return Some(Explained {
            pos: pos(line, column),
            message: format!("a closing `{}` with no bracket open", here.unwrap_or(']')),
            help: "remove it, or quote the value that holds it".into(),
        });
    };
    let close = if bracket == '{' { '}' } else { ']' };
    let message = match here {
        Some(h @ ('}' | ']')) if h != close => format!("the `{bracket}` opened here is closed with `{h}`"),
        _ => format!("the `{bracket}` opened here is not closed"),
    };
    Some(Explained {
        pos: pos(n, c),
        message,
        help: format!("close it with `{close}`, and separate its entries with `, `"),
    })
}

/// The byte index of the first `: ` (or a final `:`) outside quotes in `text`.
fn key_separator(text: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let bytes: Vec<char> = text.chars().collect();
    let mut offset = 0;
    for (i, ch) in bytes.iter().enumerate() {
        match (quote, ch) {
            (Some(q), ch) if *ch == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if text[..offset].trim().is_empty() || text[..offset].trim_end().ends_with(':') => {
                quote = Some(*ch)
            }
            (None, '#') if offset == 0 || bytes[i - 1] == ' ' => return None,
            (None, ':') if bytes.get(i + 1).is_none_or(|n| *n == ' ') => return Some(offset),
            _ => {}
        }
        offset += ch.len_utf8();
    }
    None
}

fn previous_content<'a>(lines: &[&'a str], line: usize) -> Option<(usize, &'a str)> {
    lines[..line - 1].iter().enumerate().rev().find(|(_, l)| is_content(l)).map(|(n, l)| (n + 1, *l))
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#') && t != "---"
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// How a line is named in a message: its key, or its list item.
fn label(line: &str) -> String {
    let t = line.trim();
    match key_separator(t) {
        Some(sep) if !t.starts_with("- ") => t[..sep].trim().to_string(),
        _ => t.split(" #").next().unwrap_or(t).to_string(),
    }
}

fn pos(line: usize, column: usize) -> Pos {
    Pos { line: line as u32, column: column as u32 }
}

#[cfg(test)]
mod tests {
    use super::super::tree::parse_yaml;

    /// Parses `yaml`, which must fail, and renders the explanation as `line:col message | help`.
    fn check(yaml: &str, expected: &str) {
        let d = parse_yaml(yaml).expect_err("the YAML is broken");
        let actual = format!("{}:{} {} | {}", d.line, d.column, d.message, d.help.unwrap_or_default());
        assert_eq!(actual, expected, "for:\n{yaml}");
    }

    #[test]
    fn a_key_without_its_colon_is_named_on_its_own_line() {
        check(
            "upstreams:\n  time\n    url: http://x\n",
            "2:3 invalid YAML: `time` is missing the `:` after its key | write `time:`",
        );
        check(
            "upstreams:\n  time:\n    url http://x\n    prefix: t\n",
            "3:5 invalid YAML: `url http://x` is missing the `:` after its key | write `url: http://x`",
        );
        check(
            "upstreams:\n  time:\n    url: http://x\nprefix t\n",
            "4:1 invalid YAML: `prefix t` is missing the `:` after its key | write `prefix: t`",
        );
        check(
            "upstreams:\n  time:\n    url:http://x\n    prefix: t\n",
            "3:5 invalid YAML: `url:http://x` has no space after its `:`, so it is one word, not a key and a value | write `url: http://x`",
        );
    }

    #[test]
    fn a_value_holding_colon_space_is_told_to_be_quoted() {
        check(
            "upstreams:\n  time:\n    url: http://x\n    prefix: a: b\n",
            "4:13 invalid YAML: the value of `prefix` holds `: `, which YAML reads as another key | quote the value: prefix: \"a: b\"",
        );
    }

    #[test]
    fn misindented_lines_are_told_which_indentation_fits() {
        check(
            "upstreams:\n  time:\n    stdio:\n      command: uvx\n     args: [a]\n",
            "5:6 invalid YAML: this line is indented by 5 spaces, between `command` (6 spaces, line 4) and `stdio` (4 spaces, line 3) | indent `args` by 6 spaces to stand beside `command`, or by 4 to stand beside `stdio`",
        );
        check(
            "upstreams:\n  time:\n    stdio: { command: uvx }\n      timeout: 30s\n",
            "4:7 invalid YAML: this line is indented more than `stdio` on line 3, whose value is already given on that line | indent `timeout` by 4 spaces, like `stdio`",
        );
        check(
            "upstreams:\n  time:\n    url: http://x\n      prefix: t\n",
            "4:7 invalid YAML: this line is indented more than `url` on line 3, whose value is already given, so it reads as more of that value | indent `prefix` by 4 spaces, like `url`",
        );
        check(
            "upstreams:\n  time:\n    url: http://x\n  - docs\n",
            "4:3 invalid YAML: `- docs` is a list item, but the entries beside `time` (line 2) are keys | write it as `key: value`, or move the list under a key that ends with `:`",
        );
    }

    /// Whatever position and words the parser reports, explaining them never panics.
    #[test]
    fn any_position_is_explained_without_panicking() {
        let infos = [
            "mapping values are not allowed in this context",
            "while parsing a block mapping, did not find expected key",
            "tabs disallowed within this context (block indentation)",
            "simple key expect ':'",
            "while parsing a flow mapping, did not find expected ',' or '}'",
            "misplaced bracket",
            "invalid indentation in quoted scalar",
            "unexpected character: `@'",
            "something else",
        ];
        let texts = ["", "a", "é: [ü, {\n\t- 'x\n  \"y: z\n", "a:\n  - b\n c: d # e: f\n"];
        for text in texts {
            for line in 0..8 {
                for column in 0..30 {
                    for info in infos {
                        let e = super::explain(text, line, column, info);
                        assert!(e.message.starts_with("invalid YAML: "), "{e:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn tabs_brackets_and_quotes() {
        check(
            "upstreams:\n\ttime:\n",
            "2:1 invalid YAML: a tab indents this line; YAML indents with spaces only | replace the tab with spaces",
        );
        check(
            "upstreams:\n  time:\n    url: http://x\n  \tprefix: t\n",
            "4:3 invalid YAML: a tab indents this line; YAML indents with spaces only | replace the tab with spaces",
        );
        check(
            "upstreams:\n  time:\n    stdio: { command: uvx, args: [a, b }\n",
            "3:34 invalid YAML: the `[` opened here is closed with `}` | close it with `]`, and separate its entries with `, `",
        );
        check(
            "upstreams:\n  time:\n    headers: {A: b\n    prefix: t\n",
            "3:14 invalid YAML: the `{` opened here is not closed | close it with `}`, and separate its entries with `, `",
        );
        check(
            "upstreams:\n  time:\n    url: \"http://x\n    prefix: t\n",
            "3:10 invalid YAML: the quoted value that starts here has no closing quote on its line | close the quote; a quoted value continues on the next line only when that line is indented further",
        );
    }
}
