//! Problems the server knows about, for `/healthz` and the log.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Everything is served but something needs attention (e.g. a damaged WAL tail).
    Warning,
    /// Part of the server cannot do its job (e.g. writes fail).
    Error,
}

/// One known problem.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Which part is affected (`wal`, `index`, `partition:2026-11-20`, …).
    pub component: String,
    /// How bad it is.
    pub severity: Severity,
    /// What happened and what to do.
    pub message: String,
    /// When it was first seen (RFC 3339).
    pub since: String,
}

/// The set of current problems, keyed by component.
#[derive(Debug, Default)]
pub struct Health {
    problems: Mutex<BTreeMap<String, Problem>>,
}

impl Health {
    /// Records (or updates) a problem and logs it the first time.
    pub fn report(&self, component: &str, severity: Severity, message: String) {
        let mut p = self.problems.lock().expect("lock");
        if p.get(component).is_some_and(|old| old.message == message) {
            return;
        }
        match severity {
            Severity::Warning => tracing::warn!("{component}: {message}"),
            Severity::Error => tracing::error!("{component}: {message}"),
        }
        let since = p
            .get(component)
            .map(|old| old.since.clone())
            .unwrap_or_else(|| skein_model::Timestamp::now().to_rfc3339());
        p.insert(
            component.to_string(),
            Problem {
                component: component.to_string(),
                severity,
                message,
                since,
            },
        );
    }

    /// Clears a problem once it is solved.
    pub fn clear(&self, component: &str) {
        if self
            .problems
            .lock()
            .expect("lock")
            .remove(component)
            .is_some()
        {
            tracing::info!("{component}: recovered");
        }
    }

    /// Current problems.
    pub fn problems(&self) -> Vec<Problem> {
        self.problems
            .lock()
            .expect("lock")
            .values()
            .cloned()
            .collect()
    }
}
