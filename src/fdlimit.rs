//! The open-file limit: raised at start, and shared between followed files
//! and everything else (the listener, connections, probes, checkpoints).
//!
//! Followed files may use the limit minus a reserve. Past that, a follower
//! follows fewer files and says which, rather than starving `accept` and
//! its own directory listings (a failed listing must never look like files
//! that vanished).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors open for followed files, over every follower.
static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as Go programs do:
/// systemd and most shells start services with a soft limit of 1 024.
/// Returns (old, new) soft limits when it changed.
pub fn raise() -> std::io::Result<Option<(u64, u64)>> {
    let lim = getrlimit(Resource::Nofile);
    let (old, max) = (limit_value(lim.current), limit_value(lim.maximum));
    if old >= max {
        return Ok(None);
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        },
    )?;
    Ok(Some((old, max)))
}

/// The soft `RLIMIT_NOFILE` now.
fn soft_limit() -> u64 {
    limit_value(getrlimit(Resource::Nofile).current)
}

/// rustix says `None` for `RLIM_INFINITY`, which is the largest value.
fn limit_value(v: Option<u64>) -> u64 {
    v.unwrap_or(u64::MAX)
}

/// Descriptors followed files may hold: the soft limit minus a reserve for
/// the listener, connections, probes, inotify, listings and checkpoints.
pub(crate) fn files_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let soft = usize::try_from(soft_limit()).unwrap_or(usize::MAX);
        soft.saturating_sub(64 + soft / 4)
    })
}

/// One descriptor of the followed-files budget; given back on drop.
#[derive(Debug)]
pub(crate) struct Permit(());

impl Permit {
    /// A descriptor for a followed file, if the budget has one left.
    pub(crate) fn acquire() -> Option<Permit> {
        let budget = files_budget();
        IN_USE
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < budget).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit(()))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        IN_USE.fetch_sub(1, Ordering::AcqRel);
    }
}
