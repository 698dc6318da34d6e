//! What the web server and the supervisor share: reload requests going up,
//! the current `/probe` modules coming down. Here, not in the supervisor,
//! because the web layer sits below it and must not import it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::oneshot;

use crate::config;

/// A reload asked over HTTP; the answer is the error text on failure.
pub type Request = oneshot::Sender<Result<(), String>>;

/// The `/probe` modules of the current configuration, swapped on reload.
#[derive(Debug, Default)]
pub struct Modules(RwLock<Arc<HashMap<String, config::Module>>>);

impl Modules {
    /// The module named `name`.
    pub fn get(&self, name: &str) -> Option<config::Module> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    pub(crate) fn set(&self, modules: Vec<config::Module>) {
        let map = modules.into_iter().map(|m| (m.name.clone(), m)).collect();
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
    }
}
