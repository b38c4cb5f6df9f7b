//! Reading surface text back: splitting lists at their top-level commas and finding the
//! bracket that closes another, where type texts nest (`map<string, [A]>`, `{ a: { b: C } }`)
//! and carry comparison operators (`len <= 5`) and quoted patterns (`` pattern `^[a-z]$` ``).

/// Calls `at_top_level(offset, byte)` for every byte of `text` outside brackets (and for each
/// bracket that closes back to the top level); returns whether the brackets
/// balance. Backtick-quoted spans (patterns) are skipped whole; `<` opens a bracket only after
/// a name (`Vec<`, `map<`) and `>` closes one only when not part of `<=`, `>=`, `->` or ` > `.
fn scan(text: &str, mut at_top_level: impl FnMut(usize, u8)) -> bool {
    let bytes = text.as_bytes();
    let mut depth: i32 = 0;
    let mut quoted = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'`' {
            quoted = !quoted;
            continue;
        }
        if quoted {
            continue;
        }
        let next = bytes.get(i + 1).copied();
        let previous = i.checked_sub(1).map(|p| bytes[p]);
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b'<' if previous.is_some_and(|p| p.is_ascii_alphanumeric()) => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b'>' if next != Some(b'=') && !matches!(previous, Some(b'-' | b' ')) => depth -= 1,
            _ => {
                if depth == 0 {
                    at_top_level(i, b);
                }
                continue;
            }
        }
        if depth < 0 {
            return false;
        }
        if depth == 0 {
            at_top_level(i, b);
        }
    }
    depth == 0 && !quoted
}

/// Splits a comma-separated list at its top-level `", "`; `None` when brackets do not balance.
pub fn split_list(text: &str) -> Option<Vec<&str>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    let bytes = text.as_bytes();
    let mut cuts = Vec::new();
    let balanced = scan(text, |i, b| {
        if b == b',' && bytes.get(i + 1) == Some(&b' ') {
            cuts.push(i);
        }
    });
    if !balanced {
        return None;
    }
    let mut parts = Vec::new();
    let mut start = 0;
    for cut in cuts {
        parts.push(&text[start..cut]);
        start = cut + 2;
    }
    parts.push(&text[start..]);
    Some(parts)
}

/// The offset of the bracket closing the one at `open` (which must be `(`, `[` or `{`).
pub fn closing(text: &str, open: usize) -> Option<usize> {
    let rest = text.get(open..)?;
    let mut found = None;
    scan(rest, |i, b| {
        if found.is_none() && i > 0 && matches!(b, b')' | b']' | b'}') {
            found = Some(open + i);
        }
    });
    found
}

/// The offset of the last top-level `[` of `text` whose bracket closes at the very end, when
/// it follows a space (` [len <= 5]`, not the `[` of an array type `[A]`).
pub fn trailing_bracket(text: &str) -> Option<usize> {
    if !text.ends_with(']') {
        return None;
    }
    // The last `[` opened at depth zero is the one a trailing `]` can close.
    let mut depth: i32 = 0;
    let mut quoted = false;
    let mut open_at_top = None;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'`' => quoted = !quoted,
            _ if quoted => {}
            b'[' => {
                if depth == 0 {
                    open_at_top = Some(i);
                }
                depth += 1;
            }
            b']' => depth -= 1,
            _ => {}
        }
    }
    let open = open_at_top?;
    (open > 0 && text.as_bytes()[open - 1] == b' ' && closing(text, open) == Some(text.len() - 1))
        .then_some(open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_only_at_top_level_commas() {
        assert_eq!(
            split_list("a: BoundedInt<1, 1000>, b?: map<string, [A]>, c: { d: E, f: G }").unwrap(),
            vec![
                "a: BoundedInt<1, 1000>",
                "b?: map<string, [A]>",
                "c: { d: E, f: G }"
            ]
        );
        assert_eq!(
            split_list("x: string [len <= 5, pattern `^[^,]+$`], y: integer [len >= 1]").unwrap(),
            vec![
                "x: string [len <= 5, pattern `^[^,]+$`]",
                "y: integer [len >= 1]"
            ]
        );
        assert_eq!(split_list("").unwrap(), Vec::<&str>::new());
        assert_eq!(split_list("a: [B"), None);
    }

    #[test]
    fn closing_brackets_and_trailing_constraints_are_found() {
        let text = "{ a: { b: C } } + any attribute";
        assert_eq!(closing(text, 0), Some(14));
        assert_eq!(closing(text, 5), Some(12));
        assert_eq!(
            trailing_bracket("[string [len <= 5]] [items <= 3]"),
            Some(20)
        );
        assert_eq!(trailing_bracket("[string [len <= 5]]"), None);
        assert_eq!(trailing_bracket("string"), None);
    }
}
