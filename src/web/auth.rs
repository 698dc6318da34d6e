//! HTTP basic auth against bcrypt hashes, cheap for a scraper and bounded
//! against password guessing.
//!
//! bcrypt costs tens of milliseconds by design. Successful verifications are
//! cached under a SHA-256 of (user, password, stored hash), so a scrape
//! every second costs a hash, and a changed hash invalidates the entry.
//! Verifications run on the blocking pool, at most [`MAX_VERIFYING`] at
//! once, with a short queue: wrong passwords cannot take every core.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hyper::header::HeaderValue;
use tokio::sync::Semaphore;

/// Concurrent bcrypt verifications.
const MAX_VERIFYING: usize = 1;
/// Requests waiting for a verification slot; more are refused at once.
const MAX_WAITING: usize = 32;
/// Cached successes kept (cleared when full).
const MAX_CACHED: usize = 1024;
/// Salt of the bcrypt run for unknown users (any fixed value will do).
const DUMMY_SALT: [u8; 16] = [0x5a; 16];
/// Standard base64 with canonical padding, ignoring nonzero trailing bits
/// as Go's `base64.StdEncoding` does (what exporter-toolkit decodes with).
const BASIC_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The outcome of checking a request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Known user, right password.
    Allowed,
    /// Missing, malformed or wrong credentials.
    Denied,
    /// Too many verifications queued.
    Busy,
}

/// Verifies basic-auth credentials.
#[derive(Debug)]
pub(crate) struct Authenticator {
    cache: Mutex<HashSet<[u8; 32]>>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            cache: Mutex::new(HashSet::new()),
            slots: Arc::new(Semaphore::new(MAX_VERIFYING)),
            waiting: AtomicUsize::new(0),
        }
    }
}

impl Authenticator {
    /// Checks an `Authorization` header against `users` (name → bcrypt hash).
    pub(crate) async fn check(
        &self,
        users: &BTreeMap<String, String>,
        header: Option<&HeaderValue>,
    ) -> Verdict {
        let Some((user, pass)) = header.and_then(parse_basic) else {
            return Verdict::Denied;
        };
        let stored = users.get(&user).cloned();
        let key = stored.as_deref().map(|h| cache_key(&user, &pass, h));
        if key.is_some_and(|k| self.lock().contains(&k)) {
            return Verdict::Allowed;
        }
        let cost = dummy_cost(users);
        // A request dropped while queued (client gone, HTTP/2 reset) must
        // leave the queue: a guard, not a decrement after the await.
        let Some(queued) = Queued::enter(&self.waiting) else {
            return Verdict::Busy;
        };
        let Ok(permit) = self.slots.clone().acquire_owned().await else {
            return Verdict::Denied;
        };
        drop(queued);
        // The permit lives as long as bcrypt runs, even when the request is
        // cancelled meanwhile: one verification at a time really holds.
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match stored {
                Some(hash) => bcrypt::verify(pass, &hash).unwrap_or(false),
                // The work of a verification at the configured cost, so
                // that timing does not reveal which users exist.
                None => {
                    let _ = bcrypt::hash_with_salt(pass, cost, DUMMY_SALT);
                    false
                }
            }
        })
        .await
        .unwrap_or(false);
        let Some(key) = key.filter(|_| ok) else {
            return Verdict::Denied;
        };
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key);
        Verdict::Allowed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A place in the verification queue, left on drop.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(waiting: &'a AtomicUsize) -> Option<Self> {
        let guard = Queued(waiting);
        (waiting.fetch_add(1, Ordering::AcqRel) < MAX_WAITING).then_some(guard)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The bcrypt cost of the slowest configured hash: an unknown user costs as
/// much as a known one (a fixed cost-10 dummy, as exporter-toolkit uses,
/// answers 4 times faster than a cost-12 hash and so names the users).
fn dummy_cost(users: &BTreeMap<String, String>) -> u32 {
    users
        .values()
        .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
        .map(|p| p.get_cost())
        .max()
        .unwrap_or(bcrypt::DEFAULT_COST)
}

/// `Basic base64(user:pass)` → (user, pass).
fn parse_basic(v: &HeaderValue) -> Option<(String, String)> {
    let v = v.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = String::from_utf8(BASIC_B64.decode(rest.trim()).ok()?).ok()?;
    let (u, p) = raw.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn cache_key(user: &str, pass: &str, hash: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, pass, hash] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, pass: &str) -> HeaderValue {
        let v = format!("Basic {}", BASIC_B64.encode(format!("{user}:{pass}")));
        HeaderValue::from_str(&v).unwrap()
    }

    #[tokio::test]
    async fn verifies_and_caches() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let users = BTreeMap::from([("prom".to_string(), hash)]);
        let a = Authenticator::default();
        assert_eq!(a.check(&users, None).await, Verdict::Denied);
        assert_eq!(
            a.check(&users, Some(&header("prom", "nope"))).await,
            Verdict::Denied
        );
        assert_eq!(
            a.check(&users, Some(&header("other", "s3cret"))).await,
            Verdict::Denied
        );
        assert_eq!(
            a.check(&users, Some(&header("prom", "s3cret"))).await,
            Verdict::Allowed
        );
        assert_eq!(a.lock().len(), 1);
        assert_eq!(
            a.check(&users, Some(&header("prom", "s3cret"))).await,
            Verdict::Allowed
        );
        let bearer = HeaderValue::from_static("Bearer x");
        assert_eq!(a.check(&users, Some(&bearer)).await, Verdict::Denied);
    }

    #[test]
    fn base64_padding_is_strict_and_trailing_bits_ignored() {
        let d = |s: &str| BASIC_B64.decode(s).ok();
        assert_eq!(d("YQ=="), Some(b"a".to_vec()));
        assert_eq!(d("YR=="), Some(b"a".to_vec()));
        assert_eq!(d(""), Some(Vec::new()));
        for bad in ["YQ=", "YQ", "Y=Q=", "Y===", "YQ==YQ==", "!!!!", "YQ== "] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_users_cost_the_slowest_configured_hash() {
        let users = |hs: &[&str]| {
            hs.iter()
                .enumerate()
                .map(|(i, h)| (i.to_string(), h.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let (h4, h5) = (bcrypt::hash("a", 4).unwrap(), bcrypt::hash("a", 5).unwrap());
        assert_eq!(dummy_cost(&users(&[&h4, &h5, "not a hash"])), 5);
        assert_eq!(dummy_cost(&users(&["not a hash"])), bcrypt::DEFAULT_COST);
        assert!(bcrypt::hash_with_salt("x", 4, DUMMY_SALT).is_ok());
    }

    mod prop {
        use super::super::{parse_basic, BASIC_B64};
        use base64::Engine as _;
        use hyper::header::HeaderValue;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn any_authorization_header_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
                if let Ok(v) = HeaderValue::from_bytes(&bytes) {
                    let _ = parse_basic(&v);
                }
                let mut basic = b"Basic ".to_vec();
                basic.extend_from_slice(&bytes);
                if let Ok(v) = HeaderValue::from_bytes(&basic) {
                    let _ = parse_basic(&v);
                }
            }

            #[test]
            fn encoded_credentials_round_trip(user in "[^:\\x00-\\x1f]{0,16}", pass in any::<String>()) {
                let v = format!("Basic {}", BASIC_B64.encode(format!("{user}:{pass}")));
                let v = HeaderValue::from_str(&v).unwrap();
                prop_assert_eq!(parse_basic(&v), Some((user, pass)));
            }
        }
    }
}
