//! Locking that survives a panicking holder: every mutex of the crate
//! guards data that stays consistent at each step.

use std::sync::Mutex;

/// Locks a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
