//! A session's health and what needs a person: from when the session's cookies expire (as
//! its credentials said), the account's pauses and its state. The session watch warns at
//! `Stage::Expiring` (the warning window before the end) and at `Stage::Expired`.

use crate::text_enum;

use super::shown::AccountState;

text_enum! {
    /// How an account's session stands, as the API reports it.
    pub enum SessionHealth {
        /// No credentials are stored.
        None = "none",
        /// Stored without an expiry (a cURL text does not carry one); probes tell.
        Unknown = "unknown",
        Ok = "ok",
        /// It ends within the warning window.
        Expiring = "expiring",
        /// Its expiry has passed, or the exchange said it has.
        Expired = "expired",
    }
}

/// The event kind of a probe that found a stored session refused by the exchange.
pub const REFUSED_KIND: &str = "session_refused";

/// Which warning a session is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Expiring,
    Expired,
}

impl Stage {
    /// The event kind of the warning.
    pub fn kind(self) -> &'static str {
        match self {
            Stage::Expiring => "session_expiring",
            Stage::Expired => "session_expiry_reached",
        }
    }
}

/// The warning due for a session ending at `expires_at_ms`, seen at `now`.
pub fn stage(expires_at_ms: i64, now: i64, warn_ms: i64) -> Option<Stage> {
    if expires_at_ms <= now {
        Some(Stage::Expired)
    } else if expires_at_ms.saturating_sub(now) <= warn_ms {
        Some(Stage::Expiring)
    } else {
        None
    }
}

/// The session's health: `stored` is `None` without credentials, `Some(expiry)` with them.
pub fn health(
    stored: Option<Option<i64>>,
    pauses: &[String],
    now: i64,
    warn_ms: i64,
) -> SessionHealth {
    if pauses.iter().any(|p| p == "session_expired") {
        return SessionHealth::Expired;
    }
    match stored {
        None => SessionHealth::None,
        Some(None) => SessionHealth::Unknown,
        Some(Some(t)) => match stage(t, now, warn_ms) {
            Some(Stage::Expired) => SessionHealth::Expired,
            Some(Stage::Expiring) => SessionHealth::Expiring,
            None => SessionHealth::Ok,
        },
    }
}

/// Pauses only a person can lift: a new login, a 2FA or face check, an order the exchange
/// cannot account for.
const PERSON_PAUSES: &[&str] = &["two_factor", "face_check", "ambiguous_order"];

/// Why an account needs a person, as codes (empty: it does not).
pub fn needs_person(state: AccountState, pauses: &[String], session: SessionHealth) -> Vec<String> {
    let mut out = Vec::new();
    match session {
        SessionHealth::Expired => out.push("session_expired".to_owned()),
        SessionHealth::Expiring => out.push("session_expiring".to_owned()),
        SessionHealth::None | SessionHealth::Unknown | SessionHealth::Ok => {}
    }
    for p in pauses {
        if PERSON_PAUSES.contains(&p.as_str()) {
            out.push(p.clone());
        }
    }
    if state == AccountState::Failed {
        out.push("failed".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_session_is_due_a_warning_in_its_window_and_at_its_end() {
        assert_eq!(stage(13 * HOUR, 0, 12 * HOUR), None);
        assert_eq!(stage(12 * HOUR, 0, 12 * HOUR), Some(Stage::Expiring));
        assert_eq!(stage(HOUR, 0, 12 * HOUR), Some(Stage::Expiring));
        assert_eq!(stage(HOUR, HOUR, 12 * HOUR), Some(Stage::Expired));
        assert_eq!(stage(HOUR, 5 * HOUR, 12 * HOUR), Some(Stage::Expired));
    }

    #[test]
    fn health_reads_credentials_expiry_and_the_exchanges_word() {
        let none: Vec<String> = Vec::new();
        assert_eq!(health(None, &none, 0, HOUR), SessionHealth::None);
        assert_eq!(health(Some(None), &none, 0, HOUR), SessionHealth::Unknown);
        assert_eq!(
            health(Some(Some(5 * HOUR)), &none, 0, HOUR),
            SessionHealth::Ok
        );
        assert_eq!(
            health(Some(Some(HOUR / 2)), &none, 0, HOUR),
            SessionHealth::Expiring
        );
        let refused = vec!["session_expired".to_owned()];
        assert_eq!(
            health(Some(Some(5 * HOUR)), &refused, 0, HOUR),
            SessionHealth::Expired
        );
    }

    #[test]
    fn a_person_is_needed_for_sessions_checks_ambiguity_and_failure_only() {
        let pauses = vec!["operator".to_owned(), "face_check".to_owned()];
        assert_eq!(
            needs_person(AccountState::Paused, &pauses, SessionHealth::Expiring),
            vec!["session_expiring", "face_check"]
        );
        assert!(
            needs_person(
                AccountState::Paused,
                &["volatility".to_owned()],
                SessionHealth::Ok
            )
            .is_empty()
        );
        assert_eq!(
            needs_person(AccountState::Failed, &[], SessionHealth::Unknown),
            vec!["failed"]
        );
    }
}
