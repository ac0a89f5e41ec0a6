//! What an account shows (the API's `state` and `phase`), decided from its cycle and from what
//! the account knows of its store and stream.

use super::cycle::State;

/// What besides the cycle decides what is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facts {
    /// The account has not reconciled since its task started, and the operator wants it to
    /// run: it is waiting for its stream or held by a pause, not stopped.
    pub starting: bool,
    /// An ended pair's leg is not yet heard final, or a fill waits to be written: the store is
    /// not at rest yet.
    pub settling: bool,
    /// The account has reconciled with the exchange since its stream last came up.
    pub reconciled: bool,
}

/// The cycle state's own name (the `phase` once reconciled).
pub fn state_name(s: &State) -> &'static str {
    match s {
        State::Idle => "idle",
        State::Placing { .. } => "placing",
        State::Working { .. } => "working",
        State::Pending { .. } => "pending",
        State::Cancelling { .. } => "cancelling",
        State::Liquidating { .. } => "liquidating",
        State::Unknown { .. } => "unknown",
        State::DoneForToday => "done_for_today",
        State::Stopped => "stopped",
    }
}

/// `(state, phase)` as the API shows them. Stopped and done show only once the store is at
/// rest; a pause shows only while no pair may be live (a live pair is still followed to its
/// end, and that is trading); before the first reconciliation the account is idle.
pub fn shown(
    state: &State,
    paused: bool,
    pair_may_be_live: bool,
    f: Facts,
) -> (&'static str, &'static str) {
    let shown_state = if *state == State::Stopped && !f.starting && !f.settling {
        "stopped"
    } else if paused && !pair_may_be_live {
        "paused"
    } else if !f.reconciled {
        "idle"
    } else if *state == State::DoneForToday && !f.settling {
        "done_for_today"
    } else {
        "trading"
    };
    let phase = if !f.reconciled {
        "reconciling"
    } else if f.settling && matches!(state, State::Stopped | State::DoneForToday) {
        "settling"
    } else {
        state_name(state)
    };
    (shown_state, phase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT_REST: Facts = Facts {
        starting: false,
        settling: false,
        reconciled: true,
    };

    #[test]
    fn stopped_and_done_show_only_once_the_store_is_at_rest() {
        assert_eq!(
            shown(&State::Stopped, false, false, AT_REST),
            ("stopped", "stopped")
        );
        let settling = Facts {
            settling: true,
            ..AT_REST
        };
        assert_eq!(
            shown(&State::Stopped, false, false, settling),
            ("trading", "settling")
        );
        assert_eq!(
            shown(&State::DoneForToday, false, false, AT_REST),
            ("done_for_today", "done_for_today")
        );
        assert_eq!(
            shown(&State::DoneForToday, false, false, settling),
            ("trading", "settling")
        );
    }

    #[test]
    fn a_pause_shows_only_while_no_pair_may_be_live() {
        assert_eq!(
            shown(&State::Idle, true, false, AT_REST),
            ("paused", "idle")
        );
        assert_eq!(
            shown(&State::DoneForToday, true, false, AT_REST).0,
            "paused"
        );
        assert_eq!(shown(&State::Idle, true, true, AT_REST).0, "trading");
    }

    #[test]
    fn before_reconciling_an_account_is_idle_or_paused_not_stopped() {
        let starting = Facts {
            starting: true,
            settling: false,
            reconciled: false,
        };
        assert_eq!(
            shown(&State::Stopped, false, false, starting),
            ("idle", "reconciling")
        );
        assert_eq!(
            shown(&State::Stopped, true, false, starting),
            ("paused", "reconciling")
        );
        // Wished stopped: it shows stopped even before reconciling.
        let stopped = Facts {
            starting: false,
            ..starting
        };
        assert_eq!(shown(&State::Stopped, false, false, stopped).0, "stopped");
    }

    #[test]
    fn a_reconciled_account_between_pairs_is_trading_in_its_cycle_phase() {
        assert_eq!(
            shown(&State::Idle, false, false, AT_REST),
            ("trading", "idle")
        );
    }
}
