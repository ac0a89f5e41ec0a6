//! What the process does to itself so that its memory (decrypted cookies and headers, the API
//! token) never lands in a core dump or in the hands of another process of the same user.

/// What [`no_core_dumps`] achieved, read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpGuard {
    /// The kernel's "dumpable" flag after the call: false means no core dump and no ptrace
    /// attach by processes of the same user.
    pub dumpable: bool,
    /// The core-file size limit (soft, hard) after the call, where it could be read.
    pub core_limit: Option<(u64, u64)>,
    /// What failed, if anything (the unit's system-call filter refuses `setrlimit`; the unit's
    /// `LimitCORE=0` has set the limit already there).
    pub problems: Vec<String>,
}

/// Turns core dumps off for the rest of the process's life: `PR_SET_DUMPABLE` 0 and a core
/// size limit of 0.
pub fn no_core_dumps() -> DumpGuard {
    let mut problems = Vec::new();
    if let Err(e) = rlimit::setrlimit(rlimit::Resource::CORE, 0, 0) {
        problems.push(format!("setrlimit(RLIMIT_CORE): {e}"));
    }
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        problems.push(format!("prctl(PR_SET_DUMPABLE): {e}"));
    }
    let dumpable = nix::sys::prctl::get_dumpable().unwrap_or(true);
    DumpGuard {
        dumpable,
        core_limit: rlimit::getrlimit(rlimit::Resource::CORE).ok(),
        problems,
    }
}

/// How much lower than the rest of the process the trading threads run (`nice` steps). When
/// more pairs are asked for than the host's cores can serve, the control API's workers and the
/// database threads are given the CPU first: the operator is answered while every account
/// slows alike.
pub const TRADING_NICENESS: i32 = 5;

/// Lowers the calling thread's CPU priority by `steps` (Linux keeps a niceness per thread).
/// A failure is answered, not fatal: the thread then runs at the process's priority.
pub fn lower_this_thread(steps: i32) -> Result<(), String> {
    let now = rustix::process::getpriority_process(None).map_err(|e| e.to_string())?;
    rustix::process::setpriority_process(None, (now + steps).min(19))
        .map_err(|e| format!("setpriority: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trading_thread_runs_lower_and_the_rest_of_the_process_does_not() {
        let main_before = rustix::process::getpriority_process(None).unwrap();
        let (before, after) = std::thread::spawn(|| {
            let before = rustix::process::getpriority_process(None).unwrap();
            lower_this_thread(TRADING_NICENESS).unwrap();
            (before, rustix::process::getpriority_process(None).unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(after, (before + TRADING_NICENESS).min(19));
        assert_eq!(
            rustix::process::getpriority_process(None).unwrap(),
            main_before,
            "only the calling thread is lowered"
        );
    }
}
