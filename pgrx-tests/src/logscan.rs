//! Server-log assertions.

use std::collections::HashSet;

/// Every `width`-byte window of a log, for checking many secrets against one log quickly.
pub struct LogWindows {
    width: usize,
    windows: HashSet<Vec<u8>>,
}

impl LogWindows {
    /// Indexes `log` by windows of `width` bytes.
    pub fn new(log: &str, width: usize) -> LogWindows {
        let windows = log
            .as_bytes()
            .windows(width.max(1))
            .map(<[u8]>::to_vec)
            .collect();
        LogWindows {
            width: width.max(1),
            windows,
        }
    }

    /// The offset in `secret` of the first `width`-byte window that appears in the log. Any
    /// longer leak contains such a window; a secret shorter than `width` is looked up whole.
    pub fn leak(&self, secret: &str) -> Option<usize> {
        let bytes = secret.as_bytes();
        if bytes.len() < self.width {
            return None;
        }
        bytes
            .windows(self.width)
            .position(|w| self.windows.contains(w))
    }
}

/// The offset in `secret` of the first window of `min` bytes that appears in `log`, if any.
pub fn leaked_window(log: &str, secret: &str, min: usize) -> Option<usize> {
    LogWindows::new(log, min).leak(secret)
}

#[cfg(test)]
mod tests {
    use super::{leaked_window, LogWindows};

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

    #[test]
    fn one_index_serves_many_secrets() {
        let index = LogWindows::new("LOG: kid=\"k1\" reason=bad_signature", 8);
        assert_eq!(index.leak("zzzzreason=bazzzz"), Some(4));
        assert_eq!(index.leak("eyJhbGciOiJSUzI1NiJ9"), None);
    }
}
