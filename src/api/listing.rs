//! `GET /api/v1/accounts`'s query: which accounts, in what order, which page. Without a query
//! the answer is every account in the order they were made, as it always was; the total
//! before paging goes out in `X-Total-Count`.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::domain::shown::AccountState;

/// What the query reads of an account's view.
pub trait ListedAccount {
    fn name(&self) -> &str;
    fn state(&self) -> AccountState;
    fn pauses(&self) -> &[String];
    fn token(&self) -> &str;
    fn volume_today(&self) -> Decimal;
    fn profile(&self) -> Option<&str>;
    fn tags(&self) -> &[String];
    fn needs_person(&self) -> bool;
}

/// Most accounts one page may hold.
pub const MAX_LIMIT: usize = 1_000;

/// How the list is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// By name, A to Z.
    Name,
    /// By state, in the order of `AccountState::ALL`, then by name.
    State,
    /// By today's volume, largest first, then by name.
    Volume,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub state: Option<AccountState>,
    /// Accounts paused for this reason among others (`pause_reason` codes).
    pub pause_reason: Option<String>,
    /// The token traded (its short symbol), any case.
    pub token: Option<String>,
    /// The profile the account is on.
    pub profile: Option<String>,
    /// A tag the account carries (exactly as given).
    pub tag: Option<String>,
    /// Only the accounts that need a person (`true`), or only the others.
    pub needs_person: Option<bool>,
    /// A part of the name, any case.
    pub q: Option<String>,
    pub sort: Option<SortKey>,
    pub offset: Option<usize>,
    pub limit: Option<usize>,
}

impl ListQuery {
    /// The query's own faults, named by parameter.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match self.limit {
            Some(0) => Err(("limit", "must be at least 1".into())),
            Some(n) if n > MAX_LIMIT => Err(("limit", format!("must be at most {MAX_LIMIT}"))),
            _ => Ok(()),
        }
    }

    fn keeps(&self, v: &impl ListedAccount) -> bool {
        let has = |text: &str, part: &str| text.to_lowercase().contains(&part.to_lowercase());
        self.state.is_none_or(|s| v.state() == s)
            && self
                .pause_reason
                .as_deref()
                .is_none_or(|r| v.pauses().iter().any(|p| p == r))
            && self
                .token
                .as_deref()
                .is_none_or(|t| v.token().eq_ignore_ascii_case(t))
            && self
                .profile
                .as_deref()
                .is_none_or(|p| v.profile() == Some(p))
            && self
                .tag
                .as_deref()
                .is_none_or(|t| v.tags().iter().any(|x| x == t))
            && self.needs_person.is_none_or(|n| v.needs_person() == n)
            && self.q.as_deref().is_none_or(|q| has(v.name(), q))
    }

    /// The accounts the query selects, sorted and paged, and how many it selects in all.
    pub fn select<V: ListedAccount>(&self, views: Vec<V>) -> (usize, Vec<V>) {
        let mut kept: Vec<V> = views.into_iter().filter(|v| self.keeps(v)).collect();
        let rank = |s: AccountState| AccountState::ALL.iter().position(|a| *a == s);
        match self.sort {
            None => {}
            Some(SortKey::Name) => kept.sort_by(|a, b| a.name().cmp(b.name())),
            Some(SortKey::State) => {
                kept.sort_by(|a, b| (rank(a.state()), a.name()).cmp(&(rank(b.state()), b.name())))
            }
            Some(SortKey::Volume) => {
                kept.sort_by(|a, b| (b.volume_today(), a.name()).cmp(&(a.volume_today(), b.name())))
            }
        }
        let total = kept.len();
        let page = kept
            .into_iter()
            .skip(self.offset.unwrap_or(0))
            .take(self.limit.unwrap_or(usize::MAX))
            .collect();
        (total, page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(&'static str, AccountState, &'static str, u32, Vec<String>);

    impl ListedAccount for Row {
        fn name(&self) -> &str {
            self.0
        }
        fn state(&self) -> AccountState {
            self.1
        }
        fn pauses(&self) -> &[String] {
            &self.4
        }
        fn token(&self) -> &str {
            self.2
        }
        fn volume_today(&self) -> Decimal {
            Decimal::from(self.3)
        }
        fn profile(&self) -> Option<&str> {
            matches!(self.0, "a" | "c").then_some("steady")
        }
        fn tags(&self) -> &[String] {
            // The paused account's pauses double as its tags here.
            &self.4
        }
        fn needs_person(&self) -> bool {
            !self.4.is_empty()
        }
    }

    fn rows() -> Vec<Row> {
        vec![
            Row("b", AccountState::Trading, "NEX", 30, vec![]),
            Row(
                "a",
                AccountState::Paused,
                "KOGE",
                10,
                vec!["session_expired".into()],
            ),
            Row("c", AccountState::Trading, "nex", 30, vec![]),
            Row("d", AccountState::Idle, "KOGE", 50, vec![]),
        ]
    }

    fn names(q: &ListQuery) -> (usize, Vec<&'static str>) {
        let (total, page) = q.select(rows());
        (total, page.iter().map(|r| r.0).collect())
    }

    #[test]
    fn filters_keep_what_they_name_and_sorts_break_ties_by_name() {
        let q = |f: fn(&mut ListQuery)| {
            let mut q = ListQuery::default();
            f(&mut q);
            q
        };
        assert_eq!(names(&ListQuery::default()), (4, vec!["b", "a", "c", "d"]));
        assert_eq!(
            names(&q(|q| q.token = Some("NEX".into()))),
            (2, vec!["b", "c"])
        );
        assert_eq!(
            names(&q(|q| q.pause_reason = Some("session_expired".into()))),
            (1, vec!["a"])
        );
        assert_eq!(
            names(&q(|q| q.profile = Some("steady".into()))),
            (2, vec!["a", "c"])
        );
        assert_eq!(
            names(&q(|q| q.tag = Some("session_expired".into()))),
            (1, vec!["a"])
        );
        assert_eq!(names(&q(|q| q.tag = Some("session".into()))).0, 0);
        assert_eq!(names(&q(|q| q.needs_person = Some(true))), (1, vec!["a"]));
        assert_eq!(names(&q(|q| q.needs_person = Some(false))).0, 3);
        assert_eq!(
            names(&q(|q| q.sort = Some(SortKey::Volume))),
            (4, vec!["d", "b", "c", "a"])
        );
        assert_eq!(
            names(&q(|q| q.sort = Some(SortKey::State))),
            (4, vec!["d", "b", "c", "a"])
        );
        assert_eq!(
            names(&q(|q| {
                q.sort = Some(SortKey::Name);
                q.offset = Some(1);
                q.limit = Some(2);
            })),
            (4, vec!["b", "c"])
        );
        assert_eq!(names(&q(|q| q.offset = Some(9))), (4, vec![]));
        assert!(q(|q| q.limit = Some(0)).check().is_err());
        assert!(q(|q| q.limit = Some(MAX_LIMIT + 1)).check().is_err());
        assert!(q(|q| q.limit = Some(MAX_LIMIT)).check().is_ok());
    }
}
