//! What an account shows (the API's `state` and `phase`), decided from its cycle and from what
//! the account knows of its store and stream.

use super::cycle::State;
use crate::text_enum;

text_enum! {
    /// What an account is doing, as the API reports it.
    pub enum AccountState {
        Idle = "idle",
        Trading = "trading",
        Paused = "paused",
        DoneForToday = "done_for_today",
        Stopped = "stopped",
        Failed = "failed",
    }
}

text_enum! {
    /// What the account is doing within its state.
    pub enum Phase {
        /// Its task has started and has not yet reached the exchange.
        Starting = "starting",
        /// Another instance holds the account's lease.
        Standby = "standby",
        /// Reading the exchange's view before trading.
        Reconciling = "reconciling",
        /// A pair has ended; its last reports or fills are not yet in the store.
        Settling = "settling",
        /// Parked after too many restarts, until a person starts it.
        Failed = "failed",
        /// No task of this instance runs the account (the API's view of a stored account).
        NotRunning = "not_running",
        Idle = "idle",
        Placing = "placing",
        Working = "working",
        Pending = "pending",
        Cancelling = "cancelling",
        Liquidating = "liquidating",
        Unknown = "unknown",
        DoneForToday = "done_for_today",
        Stopped = "stopped",
    }
}

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
pub fn state_phase(s: &State) -> Phase {
    match s {
        State::Idle => Phase::Idle,
        State::Placing { .. } => Phase::Placing,
        State::Working { .. } => Phase::Working,
        State::Pending { .. } => Phase::Pending,
        State::Cancelling { .. } => Phase::Cancelling,
        State::Liquidating { .. } => Phase::Liquidating,
        State::Unknown { .. } => Phase::Unknown,
        State::DoneForToday => Phase::DoneForToday,
        State::Stopped => Phase::Stopped,
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
) -> (AccountState, Phase) {
    let shown_state = if *state == State::Stopped && !f.starting && !f.settling {
        AccountState::Stopped
    } else if paused && !pair_may_be_live {
        AccountState::Paused
    } else if !f.reconciled {
        AccountState::Idle
    } else if *state == State::DoneForToday && !f.settling {
        AccountState::DoneForToday
    } else {
        AccountState::Trading
    };
    let phase = if !f.reconciled {
        Phase::Reconciling
    } else if f.settling && matches!(state, State::Stopped | State::DoneForToday) {
        Phase::Settling
    } else {
        state_phase(state)
    };
    (shown_state, phase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown_text(
        state: &State,
        paused: bool,
        live: bool,
        f: Facts,
    ) -> (&'static str, &'static str) {
        let (s, p) = shown(state, paused, live, f);
        (s.as_str(), p.as_str())
    }

    const AT_REST: Facts = Facts {
        starting: false,
        settling: false,
        reconciled: true,
    };

    #[test]
    fn stopped_and_done_show_only_once_the_store_is_at_rest() {
        assert_eq!(
            shown_text(&State::Stopped, false, false, AT_REST),
            ("stopped", "stopped")
        );
        let settling = Facts {
            settling: true,
            ..AT_REST
        };
        assert_eq!(
            shown_text(&State::Stopped, false, false, settling),
            ("trading", "settling")
        );
        assert_eq!(
            shown_text(&State::DoneForToday, false, false, AT_REST),
            ("done_for_today", "done_for_today")
        );
        assert_eq!(
            shown_text(&State::DoneForToday, false, false, settling),
            ("trading", "settling")
        );
    }

    #[test]
    fn a_pause_shows_only_while_no_pair_may_be_live() {
        assert_eq!(
            shown_text(&State::Idle, true, false, AT_REST),
            ("paused", "idle")
        );
        assert_eq!(
            shown_text(&State::DoneForToday, true, false, AT_REST).0,
            "paused"
        );
        assert_eq!(shown_text(&State::Idle, true, true, AT_REST).0, "trading");
    }

    #[test]
    fn before_reconciling_an_account_is_idle_or_paused_not_stopped() {
        let starting = Facts {
            starting: true,
            settling: false,
            reconciled: false,
        };
        assert_eq!(
            shown_text(&State::Stopped, false, false, starting),
            ("idle", "reconciling")
        );
        assert_eq!(
            shown_text(&State::Stopped, true, false, starting),
            ("paused", "reconciling")
        );
        // Wished stopped: it shows stopped even before reconciling.
        let stopped = Facts {
            starting: false,
            ..starting
        };
        assert_eq!(
            shown_text(&State::Stopped, false, false, stopped).0,
            "stopped"
        );
    }

    #[test]
    fn a_reconciled_account_between_pairs_is_trading_in_its_cycle_phase() {
        assert_eq!(
            shown_text(&State::Idle, false, false, AT_REST),
            ("trading", "idle")
        );
    }
}
