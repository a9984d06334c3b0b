//! The replay window: which (key, nonce) pairs were used recently. **Pure**: the clock
//! is an argument.
//!
//! A signed request is accepted only if its timestamp is within `skew` of the server
//! clock ([`crate::signing::check_timestamp`]), so a nonce needs remembering only while a
//! request carrying it could still pass that check: until `timestamp + skew`. Entries
//! older than that are pruned, which bounds memory by the request rate times `2 × skew`.
//!
//! The window is not persisted on its own: every accepted nonce is in a durable record
//! (call, load or unload), and [`crate::Node::open`] rebuilds the window from the log, so
//! a nonce seen before a restart is still refused after it.
//!
//! ```
//! use ledgervm_node::nonces::NonceWindow;
//! let mut w = NonceWindow::new(1_000);
//! assert!(w.check_and_insert("key", "n1", 5_000, 5_000).is_ok());
//! assert_eq!(w.check_and_insert("key", "n1", 5_000, 5_100).unwrap_err().code(), "auth.replayed_nonce");
//! assert!(w.check_and_insert("other-key", "n1", 5_000, 5_100).is_ok());
//! ```

use crate::signing::AuthError;
use std::collections::{BTreeSet, HashSet};

/// Recently used (key, nonce) pairs.
#[derive(Debug, Default)]
pub struct NonceWindow {
    skew_ms: u64,
    seen: HashSet<(String, String)>,
    /// The same pairs ordered by timestamp, for pruning.
    by_time: BTreeSet<(u64, String, String)>,
}

impl NonceWindow {
    /// An empty window for requests accepted within `skew_ms` of the clock.
    pub fn new(skew_ms: u64) -> NonceWindow {
        NonceWindow {
            skew_ms,
            ..Default::default()
        }
    }

    /// Pairs remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Forgets pairs whose timestamp is too old to pass the timestamp check at `now_ms`.
    pub fn prune(&mut self, now_ms: u64) {
        let horizon = now_ms.saturating_sub(self.skew_ms);
        while let Some(first) = self.by_time.first() {
            if first.0 >= horizon {
                break;
            }
            let (_, key, nonce) = self.by_time.pop_first().expect("non-empty");
            self.seen.remove(&(key, nonce));
        }
    }

    /// Records a pair without checking (rebuilding the window from the log).
    pub fn remember(&mut self, key: &str, nonce: &str, timestamp_ms: u64) {
        if self.seen.insert((key.to_string(), nonce.to_string())) {
            self.by_time
                .insert((timestamp_ms, key.to_string(), nonce.to_string()));
        }
    }

    /// Refuses a pair already in the window, else remembers it. The caller has checked
    /// the timestamp (and the signature) first.
    pub fn check_and_insert(
        &mut self,
        key: &str,
        nonce: &str,
        timestamp_ms: u64,
        now_ms: u64,
    ) -> Result<(), AuthError> {
        self.prune(now_ms);
        if self.seen.contains(&(key.to_string(), nonce.to_string())) {
            return Err(AuthError::ReplayedNonce {
                nonce: nonce.to_string(),
            });
        }
        self.remember(key, nonce, timestamp_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::check_timestamp;
    use proptest::prelude::*;

    #[test]
    fn prunes_only_what_the_timestamp_check_would_refuse() {
        let mut w = NonceWindow::new(100);
        w.check_and_insert("k", "a", 1_000, 1_000).unwrap();
        w.check_and_insert("k", "b", 1_050, 1_050).unwrap();
        // At 1_100 both are still within the skew: both refused again.
        assert!(w.check_and_insert("k", "a", 1_000, 1_100).is_err());
        // At 1_101 "a" is stale (the timestamp check refuses it), so it may go.
        w.prune(1_101);
        assert_eq!(w.len(), 1);
        assert!(w.check_and_insert("k", "b", 1_050, 1_101).is_err());
    }

    #[test]
    fn remember_is_idempotent() {
        let mut w = NonceWindow::new(10);
        w.remember("k", "n", 5);
        w.remember("k", "n", 5);
        assert_eq!(w.len(), 1);
        w.prune(100);
        assert!(w.is_empty());
    }

    proptest! {
        /// Whatever the order and timing, a replay — the same key, nonce and timestamp,
        /// hence the same signed bytes — never passes both the timestamp check and the
        /// window twice.
        #[test]
        fn no_pair_is_accepted_twice(
            reqs in proptest::collection::vec((0u8..3, 0u8..4, 0u64..400, 0u64..30), 1..60),
        ) {
            let skew = 100;
            let mut w = NonceWindow::new(skew);
            let mut now = 1_000u64;
            let mut accepted = std::collections::HashSet::new();
            for (key, nonce, ts_back, advance) in reqs {
                now += advance;
                let ts = now.saturating_sub(ts_back) + 50;
                let (key, nonce) = (key.to_string(), nonce.to_string());
                if check_timestamp(ts, now, skew).is_err() {
                    continue;
                }
                if w.check_and_insert(&key, &nonce, ts, now).is_ok() {
                    prop_assert!(accepted.insert((key, nonce, ts)), "accepted twice");
                }
            }
        }
    }
}
