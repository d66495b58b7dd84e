//! Cutting text a guest emits to its budget, with a marker that says how much
//! was cut, so a reader of the log, record or event knows it is not whole.

/// Cuts `text` to at most `max` bytes (on a character boundary), the marker
/// `…[truncated N bytes]` included, where N counts the bytes cut. Returns
/// whether it cut. Text within `max` is left alone, without copying.
pub fn truncate(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    // The marker is at most this long: N never has more digits than the length.
    let room = marker(text.len()).len();
    let mut keep = max.saturating_sub(room);
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    let cut = text.len() - keep;
    text.truncate(keep);
    text.push_str(&marker(cut));
    // Give the rest back: a 4 MB line cut to 16 KB must not keep 4 MB alive
    // while it waits for Redis.
    text.shrink_to_fit();
    true
}

/// Like [`truncate`], by value.
pub fn truncated(mut text: String, max: usize) -> String {
    truncate(&mut text, max);
    text
}

fn marker(cut: usize) -> String {
    format!("…[truncated {cut} bytes]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_within_the_limit_is_untouched() {
        let mut s = "hello".to_owned();
        assert!(!truncate(&mut s, 5));
        assert_eq!(s, "hello");
    }

    #[test]
    fn longer_text_is_cut_to_the_limit_with_a_marker_counting_the_cut() {
        let mut s = "x".repeat(4_194_304);
        assert!(truncate(&mut s, 1_000));
        assert!(s.len() <= 1_000, "{}", s.len());
        assert!(s.capacity() <= 1_000, "the memory is given back too: {}", s.capacity());
        let kept = s.bytes().take_while(|b| *b == b'x').count();
        assert_eq!(s[kept..], format!("…[truncated {} bytes]", 4_194_304 - kept));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let mut s = "é".repeat(100);
        assert!(truncate(&mut s, 50));
        assert!(s.len() <= 50);
        assert!(s.starts_with('é'), "{s}");
    }

    #[test]
    fn a_limit_smaller_than_the_marker_keeps_only_the_marker() {
        let s = truncated("abcdefghijklmnopqrstuvwxyz".repeat(10), 3);
        assert_eq!(s, "…[truncated 260 bytes]");
    }
}
