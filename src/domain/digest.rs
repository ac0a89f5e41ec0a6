//! A burst of events as a few messages for a person: grouped by what happened (kind, level,
//! reason), each group one line listing its accounts, the lines packed into messages no longer
//! than a channel takes. 500 accounts losing their session at once are one line, not 500
//! messages.

use std::collections::BTreeMap;

/// One event as a notification channel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Noted {
    pub account: String,
    pub kind: String,
    pub level: String,
    pub reason: Option<String>,
    pub message: String,
}

/// The levels in order; an unknown level ranks as `info`.
pub fn rank(level: &str) -> u8 {
    match level {
        "debug" => 0,
        "info" => 1,
        "warn" => 2,
        "error" => 3,
        "critical" => 4,
        _ => 1,
    }
}

/// Whether a channel that takes `min` and above takes `level`.
pub fn passes(level: &str, min: &str) -> bool {
    rank(level) >= rank(min)
}

/// The messages for a burst, each at most `max_chars` characters (a line that cannot fit is
/// cut at a name). Most severe groups first, then by kind; accounts in the order seen, each
/// once per group.
pub fn messages(title: &str, events: &[Noted], max_chars: usize) -> Vec<String> {
    let mut groups: BTreeMap<(std::cmp::Reverse<u8>, String, Option<String>), Group> =
        BTreeMap::new();
    for e in events {
        let key = (
            std::cmp::Reverse(rank(&e.level)),
            e.kind.clone(),
            e.reason.clone(),
        );
        let g = groups.entry(key).or_insert_with(|| Group {
            level: e.level.clone(),
            sample: e.message.clone(),
            accounts: Vec::new(),
        });
        if !g.accounts.contains(&e.account) {
            g.accounts.push(e.account.clone());
        }
    }
    let head = format!("{title}: {} event(s)", events.len());
    let mut out = Messages {
        max: max_chars,
        head: head.clone(),
        done: Vec::new(),
        current: head,
        holds: false,
    };
    for ((_, kind, reason), g) in groups {
        let what = match &reason {
            Some(r) if r != &kind => format!("{kind} [{}, {r}]", g.level),
            _ => format!("{kind} [{}]", g.level),
        };
        let n = g.accounts.len();
        out.add("\n", &format!("{what}, {n} account(s): e.g. {}", g.sample));
        // Every account listed, as many per message as fit.
        for (i, a) in g.accounts.iter().enumerate() {
            out.add(if i == 0 { "\n" } else { ", " }, a);
        }
    }
    out.finish()
}

/// Messages being filled: each starts with the head, and a piece that does not fit starts
/// the next.
struct Messages {
    max: usize,
    head: String,
    done: Vec<String>,
    current: String,
    holds: bool,
}

impl Messages {
    fn add(&mut self, sep: &str, piece: &str) {
        let room = self
            .max
            .saturating_sub(self.head.chars().count() + 16)
            .max(8);
        let piece = cut(piece, room);
        if self.holds && self.current.chars().count() + sep.len() + piece.chars().count() > self.max
        {
            let next = format!("{} (continued)\n", self.head);
            self.done.push(std::mem::replace(&mut self.current, next));
            self.current.push_str(&piece);
        } else {
            self.current.push_str(sep);
            self.current.push_str(&piece);
        }
        self.holds = true;
    }

    fn finish(mut self) -> Vec<String> {
        self.done.push(self.current);
        self.done
    }
}

struct Group {
    level: String,
    sample: String,
    accounts: Vec<String>,
}

fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        text.chars()
            .take(max_chars.saturating_sub(1))
            .chain(['…'])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noted(account: &str, kind: &str, level: &str) -> Noted {
        Noted {
            account: account.into(),
            kind: kind.into(),
            level: level.into(),
            reason: None,
            message: format!("{account}: {kind}"),
        }
    }

    #[test]
    fn a_burst_of_one_kind_is_one_message_listing_every_account() {
        let burst: Vec<Noted> = (0..500)
            .map(|i| noted(&format!("acct-{i:03}"), "session_expiring", "warn"))
            .collect();
        let out = messages("alpha-oto", &burst, 4000);
        assert!(out.len() <= 2, "{} messages", out.len());
        let all = out.join("\n");
        for i in 0..500 {
            assert!(all.contains(&format!("acct-{i:03}")), "acct-{i:03} missing");
        }
        assert!(out.iter().all(|m| m.chars().count() <= 4000));
        assert!(
            out[0].contains("session_expiring [warn], 500 account(s)"),
            "{}",
            out[0]
        );
    }

    #[test]
    fn groups_go_most_severe_first_and_each_account_once() {
        let burst = vec![
            noted("a", "paused", "warn"),
            noted("b", "failed", "error"),
            noted("a", "paused", "warn"),
        ];
        let out = messages("t", &burst, 4000);
        assert_eq!(out.len(), 1);
        let m = &out[0];
        assert!(
            m.find("failed [error]").unwrap() < m.find("paused [warn]").unwrap(),
            "{m}"
        );
        assert!(m.contains("paused [warn], 1 account(s)"), "{m}");
    }

    #[test]
    fn levels_pass_at_and_above_the_minimum() {
        assert!(passes("warn", "warn") && passes("critical", "warn"));
        assert!(!passes("info", "warn") && passes("info", "debug"));
    }

    #[test]
    fn a_tiny_limit_still_lists_every_account_within_it() {
        let burst: Vec<Noted> = (0..30)
            .map(|i| noted(&format!("n{i}"), "k", "warn"))
            .collect();
        let out = messages("t", &burst, 40);
        assert!(out.iter().all(|m| m.chars().count() <= 40), "{out:?}");
        let all = out.join("\n");
        assert!((0..30).all(|i| all.contains(&format!("n{i}"))));
    }
}
