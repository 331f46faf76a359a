//! Guest strings as host messages show them: short, escaped, never flooding a log or report.

/// Longest part of a guest's string a message quotes.
const QUOTED_CHARS: usize = 64;

/// A guest's string as a message quotes it: escaped (`{:?}`), and cut after
/// [`QUOTED_CHARS`] characters with its full size, so a huge answer does not flood the
/// log or the report.
pub(crate) fn quoted(text: &str) -> String {
    let count = text.chars().count();
    if count <= QUOTED_CHARS {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(QUOTED_CHARS).collect();
    format!("{head:?}... ({} bytes)", text.len())
}

/// A guest's name as a sentence shows it: as is when it is short and printable (the usual
/// case: `redis connection sessions`), otherwise [`quoted`].
pub(crate) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= QUOTED_CHARS && !text.chars().any(char::is_control) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(quoted(text))
    }
}

#[cfg(test)]
mod tests {
    use super::{quoted, shown};

    #[test]
    fn huge_guest_strings_are_quoted_short() {
        assert_eq!(quoted("web\n"), "\"web\\n\"");
        let shown = quoted(&"a".repeat(100_000));
        assert!(shown.len() < 100, "{shown}");
        assert!(shown.ends_with("... (100000 bytes)"), "{shown}");
    }

    #[test]
    fn printable_names_are_shown_as_they_are() {
        assert_eq!(shown("sessions"), "sessions");
        assert_eq!(shown("bad\u{7f}"), "\"bad\\u{7f}\"");
    }
}
