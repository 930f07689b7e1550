//! Ctrl-C for the long benchmarks: the first SIGINT asks the running loop to stop at its next check (it says
//! so and exits non-zero, leaving no half-written CSV); a second one ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe and ends the process without running destructors.
        unsafe { libc::_exit(130) };
    }
}

pub fn install() {
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: FFI edge; the handler only touches an atomic (or calls _exit), which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
