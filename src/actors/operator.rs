//! The operator's commands as every caller (the API, the tests) gives them: recorded in the
//! store first, so they reach whichever instance holds the account, at once or after any
//! restart, takeover or wait for a token; then handed to this instance's task if the account
//! is held here. The answer says which of the two happened, and never more.

use serde::Serialize;

use super::Ctx;
use super::account::{Command, KillOutcome, KillReport};
use super::supervisor::SupervisorHandle;
use crate::store::models::{AccountRow, Desired};
use crate::store::{self, StoreError};

/// What became of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Handed to this instance's task of the account (it holds the account).
    Delivered,
    /// Recorded; another instance holds the account (`owner`), or none does and the next to
    /// claim it acts on it before it trades.
    Pending,
}

/// The answer to a start, pause, resume or stop.
#[derive(Debug, Clone, Serialize)]
pub struct Ack {
    pub account: String,
    pub action: &'static str,
    pub outcome: Delivery,
    pub owner: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("account {0:?} was killed: only a start lets it trade again")]
    Killed(String),
    #[error("the supervisor has stopped")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The operator's actions other than kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Pause,
    Resume,
    Stop,
}

impl Action {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "start" => Self::Start,
            "pause" => Self::Pause,
            "resume" => Self::Resume,
            "stop" => Self::Stop,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Stop => "stop",
        }
    }

    fn desired(self) -> Desired {
        match self {
            Self::Start | Self::Resume => Desired::Run,
            Self::Pause => Desired::Pause,
            Self::Stop => Desired::Stop,
        }
    }

    fn command(self) -> Command {
        match self {
            Self::Start => Command::Start,
            Self::Pause => Command::Pause,
            Self::Resume => Command::Resume,
            Self::Stop => Command::Stop,
        }
    }
}

/// Records `action` for the account and hands it to this instance's task where the account
/// is held here.
pub async fn act(
    ctx: &Ctx,
    sup: &SupervisorHandle,
    account: &AccountRow,
    action: Action,
) -> Result<Ack, CommandError> {
    let id = account.id;
    if action == Action::Resume && account.desired == Desired::Kill {
        return Err(CommandError::Killed(account.name.clone()));
    }
    let desired = action.desired();
    let (row, holder) = record(ctx, move |c| {
        let row = store::accounts::command(c, id, desired)?;
        Ok((row, store::lease::holder(c, id)?))
    })
    .await?;
    let here = holder.as_deref() == Some(ctx.owner.as_str());
    let outcome = if action == Action::Start {
        // A start also brings the account's task up here; where another instance holds the
        // account, that task waits in standby and the holder carries the start out.
        sup.start(id).await.map_err(|_| CommandError::Gone)?;
        if here {
            sup.deliver(id, row.command_seq, action.command())
                .await
                .map_err(|_| CommandError::Gone)?;
        }
        if holder.is_none() || here {
            Delivery::Delivered
        } else {
            Delivery::Pending
        }
    } else if here {
        sup.deliver(id, row.command_seq, action.command())
            .await
            .map_err(|_| CommandError::Gone)?;
        Delivery::Delivered
    } else {
        Delivery::Pending
    };
    Ok(Ack {
        account: account.name.clone(),
        action: action.name(),
        outcome,
        owner: match outcome {
            Delivery::Delivered => Some(ctx.owner.clone()),
            Delivery::Pending => holder,
        },
    })
}

/// The kill switch of one account: recorded, then carried out here if the account is held
/// here (verified on the exchange, or said to be unverified), else left pending for its holder.
pub async fn kill(
    ctx: &Ctx,
    sup: &SupervisorHandle,
    account: &AccountRow,
) -> Result<KillReport, CommandError> {
    let id = account.id;
    let (row, holder) = record(ctx, move |c| {
        let row = store::accounts::command(c, id, Desired::Kill)?;
        Ok((row, store::lease::holder(c, id)?))
    })
    .await?;
    Ok(kill_recorded(ctx, sup, &row, holder).await)
}

/// A kill already recorded under `row.command_seq`, carried out where it can be.
async fn kill_recorded(
    ctx: &Ctx,
    sup: &SupervisorHandle,
    row: &AccountRow,
    holder: Option<String>,
) -> KillReport {
    if holder.as_deref() != Some(ctx.owner.as_str()) {
        let why = match &holder {
            Some(h) => format!("instance {h} holds the account: the kill is recorded and it carries it out"),
            None => "no instance holds the account now: the kill is recorded and carried out before it trades again".to_owned(),
        };
        return KillReport::pending(&row.name, holder, &why);
    }
    match sup.kill(row.id, row.command_seq).await {
        Ok(mut report) => {
            report.account = row.name.clone();
            report
        }
        Err(_) => KillReport::pending(
            &row.name,
            Some(ctx.owner.clone()),
            "the account's task restarted before it answered: the kill is recorded and the new task carries it out",
        ),
    }
}

/// The global kill switch: a kill recorded for every account in one transaction, carried out
/// at once for the accounts held here and left pending for the others.
pub async fn halt(ctx: &Ctx, sup: &SupervisorHandle) -> Result<Vec<KillReport>, CommandError> {
    let (rows, holders) = record(ctx, |c| {
        let rows = store::accounts::command_all(c, Desired::Kill)?;
        let mut holders = Vec::with_capacity(rows.len());
        for r in &rows {
            holders.push(store::lease::holder(c, r.id)?);
        }
        Ok((rows, holders))
    })
    .await?;
    let kills = rows
        .iter()
        .zip(holders)
        .map(|(row, holder)| kill_recorded(ctx, sup, row, holder));
    Ok(futures_util::future::join_all(kills).await)
}

/// Records a command in a transaction of its own, not in a group commit beside the accounts'
/// own units: an account row updated there, in a batch that also holds other rows, met an
/// account's set_state and lease units in the opposite order on PostgreSQL ("deadlock
/// detected"). Alone, the update waits for nothing while it holds its row; a deadlock that is
/// still possible (a halt updates every row) is tried again.
async fn record<T, F>(ctx: &Ctx, f: F) -> Result<T, CommandError>
where
    T: Send + 'static,
    F: Fn(&mut store::Conn) -> Result<T, StoreError> + Send + Sync + 'static,
{
    let f = std::sync::Arc::new(f);
    let mut attempt = 0;
    loop {
        let (store, g) = (ctx.store.clone(), f.clone());
        let done = tokio::task::spawn_blocking(move || store.blocking(|c| g(c)))
            .await
            .map_err(|_| {
                CommandError::Store(StoreError::Worker("the command's thread failed".into()))
            })?;
        match done {
            Err(e) if attempt < 3 && e.to_string().contains("deadlock detected") => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
            }
            other => return other.map_err(CommandError::from),
        }
    }
}

/// Sums a set of kill reports for an answer: (open left, verified, unverified, pending).
pub fn tally(reports: &[KillReport]) -> (usize, usize, usize, usize) {
    let mut t = (0, 0, 0, 0);
    for r in reports {
        t.0 += r.open_left;
        match r.outcome {
            KillOutcome::Verified => t.1 += 1,
            KillOutcome::Unverified => t.2 += 1,
            KillOutcome::Pending => t.3 += 1,
        }
    }
    t
}
