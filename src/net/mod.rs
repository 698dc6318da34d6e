//! Network clients' settings, built from plain validated values: TLS client
//! configs ([`tls`]) and `/probe` target allowlists ([`policy`]).

pub(crate) mod policy;
pub(crate) mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// Objects built from validated data and kept as long as that data lives,
/// keyed by the data's `Arc` (not its value): a service, and every copy a
/// `/probe` module hands out, reuses one object (a TLS config keeps its
/// session cache, an allowlist is compiled once), and a reload that builds
/// new data builds new objects, as it did when the config held them.
pub(crate) struct BuiltFrom<K, V> {
    entries: Mutex<Entries<K, V>>,
}

struct Entries<K, V> {
    by_address: HashMap<usize, (Weak<K>, V)>,
    /// Dead keys are swept when the map doubles past this, so sweeping
    /// costs O(1) per insert however many services there are.
    sweep_at: usize,
}

impl<K, V: Clone> BuiltFrom<K, V> {
    pub(crate) fn new() -> Self {
        BuiltFrom {
            entries: Mutex::new(Entries {
                by_address: HashMap::new(),
                sweep_at: 64,
            }),
        }
    }

    /// The object built from `data`, building it on first use.
    pub(crate) fn get(&self, data: &Arc<K>, build: impl FnOnce(&K) -> V) -> V {
        // A live `Weak` keeps the allocation, so an address in the map is
        // never reused by other data while its entry exists.
        let address = Arc::as_ptr(data) as usize;
        let mut e = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, v)) = e.by_address.get(&address) {
            return v.clone();
        }
        if e.by_address.len() >= e.sweep_at {
            e.by_address.retain(|_, (k, _)| k.strong_count() > 0);
            e.sweep_at = (e.by_address.len() * 2).max(64);
        }
        let v = build(data);
        e.by_address
            .insert(address, (Arc::downgrade(data), v.clone()));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_object_per_live_data_and_dead_data_is_swept() {
        let cache = BuiltFrom::<String, Arc<usize>>::new();
        let builds = std::cell::Cell::new(0);
        let build = |s: &String| {
            builds.set(builds.get() + 1);
            Arc::new(s.len())
        };
        let a = Arc::new("ab".to_string());
        let first = cache.get(&a, build);
        assert!(Arc::ptr_eq(&first, &cache.get(&a.clone(), build)));
        assert_eq!(builds.get(), 1);
        let same_value = Arc::new("ab".to_string());
        assert!(!Arc::ptr_eq(&first, &cache.get(&same_value, build)));
        assert_eq!(builds.get(), 2);
        drop(same_value);
        for i in 0..200 {
            cache.get(&Arc::new(i.to_string()), build);
        }
        let left = cache.entries.lock().unwrap().by_address.len();
        assert_eq!(left, 13, "dead keys swept as the map doubles");
        assert!(Arc::ptr_eq(&first, &cache.get(&a, build)));
        assert_eq!(builds.get(), 202);
    }
}
