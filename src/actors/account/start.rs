//! An account's start: configuration and credentials, the token, the lease, then the loop.

use std::collections::VecDeque;

use super::*;

/// How long an account waits for its lease before it shows as standby (held elsewhere).
const STANDBY_AFTER: Duration = Duration::from_millis(500);

/// Messages kept while the account waits for its lease (the newest, if more come).
const EARLY_KEPT: usize = 64;

/// Runs one account until its mailbox closes (a shutdown) or it fails. The mailbox is handed
/// back: what it still holds (a kill sent during a reload) goes to the next task.
pub async fn run(
    ctx: Ctx,
    account: AccountRow,
    me: mpsc::Sender<AccountMsg>,
    mut rx: mpsc::Receiver<AccountMsg>,
    board: Board,
    heed: Arc<tokio::sync::Notify>,
) -> (Result<(), Failure>, mpsc::Receiver<AccountMsg>) {
    let result = run_until_end(ctx, account, me, &mut rx, board, heed).await;
    (result, rx)
}

async fn run_until_end(
    ctx: Ctx,
    account: AccountRow,
    me: mpsc::Sender<AccountMsg>,
    rx: &mut mpsc::Receiver<AccountMsg>,
    board: Board,
    heed: Arc<tokio::sync::Notify>,
) -> Result<(), Failure> {
    let log = ctx
        .log
        .new(slog::o!("trading.account.name" => account.name.clone(), "trading.account.id" => account.id));
    let id = account.id;
    let mut status = AccountStatus {
        account_id: id,
        name: account.name.clone(),
        state: AccountState::Idle,
        phase: Phase::Starting,
        pause_reason: None,
        pauses: Vec::new(),
        volume_today: Decimal::ZERO,
        target: Decimal::ZERO,
        cycles_today: 0,
        token: None,
        points: Default::default(),
        cost_bps: None,
        exposure_usdt: None,
        stream_up: false,
        failure: None,
        current_pair: None,
        updated_at_ms: ctx.clock.now_ms(),
    };
    publish(&board, status.clone());
    let row = ctx
        .store
        .run(move |c| store::configs::get(c, id))
        .await?
        .ok_or_else(|| Failure::Setup("the account has no trading configuration".into()))?;
    let settings = store::configs::from_row(&row)
        .map_err(|e| Failure::Setup(format!("invalid trading configuration: {e}")))?;
    status.target = plan::target_amount(settings.target());
    status.points.target = settings.daily_target_points;
    // Opened on the blocking pool with the rest of the database work.
    let shared = ctx.clone();
    let creds = ctx
        .store
        .run(move |c| {
            Ok(match &shared.vault {
                None => Err("no master key: credentials cannot be read".to_owned()),
                Some(v) => match v.get(c, id) {
                    Ok(Some(creds)) => Ok(creds),
                    Ok(None) => Err("the account has no credentials".to_owned()),
                    Err(e) => Err(format!("credentials: {e}")),
                },
            })
        })
        .await?
        .map_err(Failure::Setup)?;
    let rest = Rc::new(
        RestClient::new(&ctx.exchange.rest_url, ctx.timing.request_timeout).with_session(&creds),
    );
    drop(creds);
    publish(&board, status.clone());

    // The token first: public data, asked before the account is claimed.
    let token = loop {
        let now = ctx.clock.now_ms();
        match tokens::resolve_setting(&ctx, &rest, id, &settings, now).await {
            Ok(t) => break t,
            Err(e) => {
                let reason = match &e {
                    tokens::TokenError::Precision { .. } => PauseReason::Precision,
                    _ => PauseReason::UnknownToken,
                };
                status.state = AccountState::Paused;
                status.phase = Phase::Starting;
                status.pause_reason = Some(reason.code().into());
                status.pauses = vec![reason.code().into()];
                if !e.is_transient() {
                    notify_raw(
                        &ctx,
                        &account,
                        settings.webhook_url.as_deref(),
                        "paused",
                        EventLevel::Warn,
                        Some(reason.code()),
                        &e.to_string(),
                        &log,
                    )
                    .await;
                }
                // Shown paused once its event is recorded: whoever sees the pause finds why.
                publish(&board, status.clone());
                // Wait for a retry: a minute, or the operator's resume; a stop ends the task.
                let wait =
                    tokio::time::sleep(Duration::from_secs(if e.is_transient() { 5 } else { 60 }));
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        _ = &mut wait => break,
                        m = rx.recv() => match m {
                            None | Some(AccountMsg::Shutdown) => return Ok(()),
                            // The operator may have fixed the configuration: read it again.
                            Some(AccountMsg::Command(Command::Resume | Command::Reload | Command::SettingsChanged)) => {
                                return Err(Failure::Reload);
                            }
                            // Start, stop and pause are recorded by whoever sent them and read
                            // at the first reconciliation; a kill too, and is carried out then.
                            Some(AccountMsg::Command(Command::Kill(Some(reply)))) => {
                                let _ = reply.send(KillReport::pending(&account.name, None,
                                    "the account waits for its token: the kill is recorded and carried out before it trades"));
                            }
                            #[cfg(feature = "test-seams")]
                            Some(AccountMsg::InjectPanic) => panic!("injected panic (test hook)"),
                            Some(_) => {}
                        }
                    }
                }
            }
        }
    };

    status.token = Some(token.symbol.clone());

    // Then the lease: nothing is sent for an account another instance owns. The keeper's
    // desk claims it, with every other account waiting, once the shares give it to this
    // instance (`actors::membership`) and its holder has let it go.
    let mut granted = ctx.leases.ask(id);
    // What the account is told while it waits (a start, a pause) is carried out once it holds
    // the lease, in order, not dropped.
    let mut early: VecDeque<AccountMsg> = VecDeque::new();
    let standby = tokio::time::sleep(STANDBY_AFTER);
    tokio::pin!(standby);
    let (lease, deadline) = loop {
        tokio::select! {
            g = &mut granted => match g {
                Ok(g) => break (g.lease, g.deadline),
                // The desk is gone: the runtime is ending.
                Err(_) => return Ok(()),
            },
            () = &mut standby, if status.phase != Phase::Standby => {
                status.state = AccountState::Idle;
                status.phase = Phase::Standby;
                publish(&board, status.clone());
            }
            m = rx.recv() => match m {
                None | Some(AccountMsg::Shutdown) => return Ok(()),
                #[cfg(feature = "test-seams")]
                Some(AccountMsg::InjectPanic) => panic!("injected panic (test hook)"),
                Some(AccountMsg::Command(Command::Reload | Command::SettingsChanged)) => {
                    return Err(Failure::Reload);
                }
                Some(AccountMsg::Command(Command::Kill(Some(reply)))) => {
                    let _ = reply.send(KillReport::pending(&account.name, None,
                        "another instance holds the account: the kill is recorded and carried out by it"));
                }
                Some(m) => {
                    if early.len() == EARLY_KEPT {
                        early.pop_front();
                    }
                    early.push_back(m);
                }
            }
        }
    };
    metrics::counter!(meters::LEASE_EVENTS, "event" => "claimed").increment(1);
    info!(log, "lease claimed"; fields::EVENT_ACTION => "lease-claim", "trading.lease.fencing_token" => lease.fencing_token);

    let now = ctx.clock.now_ms();
    let day = day_start_ms(now);
    let (today, cycles_today) = ctx
        .store
        .run(move |c| {
            Ok((
                store::fills::volume_between(c, id, day, now + 1)?,
                store::cycles::filled_between(c, id, day, now + 1)?,
            ))
        })
        .await?;
    // Today's volume as the exchange counts it (trades made outside the daemon count too),
    // read before the reconciliation: the fills it records add to the store's count, and the
    // exchange's count is taken over that only where it is larger (`Event::ExchangeVolume`).
    // Read after, or added to, it would count the fills made while the daemon was down twice.
    ctx.governor.acquire(id, Purpose::Query).await;
    let exchange_volume = match rest.user_volume().await {
        Ok(v) => Some(v.total_volume),
        Err(e) => {
            warn!(log, "cannot read today's volume from the exchange; using the store's";
                "error.message" => e.to_string());
            None
        }
    };
    let price = ctx.feeds.watch(&token.trade_stream, &token.order_symbol);
    let cycle = Cycle::new(
        &account.name,
        cycle_config(&settings, &token, &ctx),
        today.buy_quote,
    );
    let core = AccountCore::new(
        cycle,
        core_config(&settings, &token, &ctx),
        exchange_volume,
        now,
    );
    let stream_task = actix_rt::spawn(crate::actors::user_stream::run(
        ctx.clone(),
        rest.clone(),
        me,
        log.clone(),
    ));
    let mut actor = Actor {
        ctx: ctx.clone(),
        account,
        settings,
        rest,
        token,
        price,
        held: ctx.leases.keep(lease.clone(), deadline),
        lease,
        core,
        live: None,
        last_cycle_id: None,
        sells: HashMap::new(),
        orders: HashMap::new(),
        filled: HashMap::new(),
        deferred: Vec::new(),
        details: HashMap::new(),
        statuses: HashMap::new(),
        open_legs: HashMap::new(),
        settle_next: None,
        written: HashMap::new(),
        later: Vec::new(),
        flush_due: None,
        balance_read: None,
        funds: Default::default(),
        bell: Arc::new(tokio::sync::Notify::new()),
        heed,
        turn: None,
        replan: false,
        turn_kept_until: None,
        armed: AlarmBand::default(),
        stream_up: false,
        was_up: false,
        reconciled: false,
        first_reconcile: true,
        next_sync: Instant::now() + ctx.timing.sync_first,
        sync_wait: ctx.timing.sync_first,
        awaiting: false,
        // Nothing is known of a pair until it is placed or asked for.
        news_at: (i64::MIN, Instant::now()),
        owed_since: None,
        asked_until: Instant::now(),
        last_look: Instant::now(),
        release_pending: false,
        killed: false,
        kill_retry: None,
        pair_done_at: None,
        flush_statuses: false,
        today,
        shown_cost: Default::default(),
        shown_cost_usdt: Default::default(),
        cycles_today,
        status,
        board,
        log,
    };
    let mut result = Ok(());
    for m in early {
        result = actor.on_msg(m).await;
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = actor.main_loop(rx).await;
    }
    stream_task.abort();
    ctx.leases.let_go(&actor.held);
    actor
        .price
        .alarm(actor.account.id, AlarmBand::default(), 0, &actor.bell);
    // Whatever the account had on the exchange is followed by its next task, which claims it
    // again after reconciling; until then other accounts are not held back by it.
    ctx.crossings
        .set(&actor.token.order_symbol, actor.account.id, None);
    if !matches!(result, Err(Failure::Store(_)))
        && let Err(e) = actor.flush().await
        && result.is_ok()
    {
        result = Err(e);
    }
    if result.is_ok() || matches!(result, Err(Failure::HandedOver)) {
        // A clean stop hands the account over at once instead of after the lease's expiry.
        let lease = actor.lease.clone();
        let _ = ctx
            .store
            .run(move |c| store::lease::release(c, &lease))
            .await;
    }
    result
}
