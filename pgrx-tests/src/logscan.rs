//! Server-log assertions.

/// Every substring of at least `min` bytes of `secret` that appears in `log`, as
/// (offset in secret, length) of the first such window found; `None` if none does. Checking
/// all windows of exactly `min` bytes is enough: any longer leak contains one.
pub fn leaked_window(log: &str, secret: &str, min: usize) -> Option<usize> {
    let bytes = secret.as_bytes();
    if bytes.len() < min {
        return log.contains(secret).then_some(0);
    }
    (0..=bytes.len() - min).find(|&i| {
        std::str::from_utf8(&bytes[i..i + min])
            .map(|w| log.contains(w))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::leaked_window;

    #[test]
    fn finds_a_short_window_of_the_secret_anywhere_in_the_log() {
        assert_eq!(
            leaked_window("x abcdefgh y", "0123abcdefgh4567", 8),
            Some(4)
        );
    }

    #[test]
    fn a_log_without_eight_consecutive_secret_bytes_is_clean() {
        assert_eq!(
            leaked_window("abcdefg 1234567", "abcdefgh1234567z", 8),
            None
        );
    }
}
