//! The missions a worker has in hand, with their lease tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::store::Claimed;

/// One attempt in hand.
#[derive(Debug)]
struct Held {
    token: String,
    /// Cancelled to stop the attempt (lost lease, cancellation, fencing).
    abort: CancellationToken,
    /// When the lease was last known to be renewed (local clock, taken before
    /// the request, so it is never later than the Redis clock's renewal).
    renewed: Instant,
}

/// Shared table of attempts in hand.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    inner: Arc<Mutex<HashMap<String, Held>>>,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a fresh claim; returns the token that stops it.
    pub fn insert(&self, c: &Claimed) -> CancellationToken {
        let abort = CancellationToken::new();
        self.lock()
            .insert(c.id.clone(), Held { token: c.token.clone(), abort: abort.clone(), renewed: Instant::now() });
        abort
    }

    /// Forgets an attempt that ended.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Stops an attempt, if it is in hand.
    pub fn abort(&self, id: &str) -> bool {
        match self.lock().get(id) {
            Some(h) => {
                h.abort.cancel();
                true
            }
            None => false,
        }
    }

    /// (id, token) of every attempt in hand.
    pub fn leases(&self) -> Vec<(String, String)> {
        self.lock().iter().map(|(id, h)| (id.clone(), h.token.clone())).collect()
    }

    /// Marks these leases renewed as of `at`.
    pub fn renewed(&self, ids: &[(String, String)], at: Instant) {
        let mut map = self.lock();
        for (id, token) in ids {
            if let Some(h) = map.get_mut(id).filter(|h| &h.token == token) {
                h.renewed = h.renewed.max(at);
            }
        }
    }

    /// Stops every attempt whose lease was not renewed since `cutoff`: it may
    /// have expired, and another worker may be about to run it.
    pub fn fence(&self, cutoff: Instant) -> Vec<String> {
        let map = self.lock();
        map.iter()
            .filter(|(_, h)| h.renewed < cutoff && !h.abort.is_cancelled())
            .map(|(id, h)| {
                h.abort.cancel();
                id.clone()
            })
            .collect()
    }
}
