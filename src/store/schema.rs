//! The diesel schema, written once for both dialects. Decimals are `Text` (canonical strings),
//! times are `BigInt` milliseconds; `tests/it/store_schema.rs` checks this file against the
//! tables that the migrations create on each backend.

diesel::table! {
    accounts (id) {
        id -> BigInt,
        name -> Text,
        state -> Text,
        pause_reason -> Nullable<Text>,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
        desired -> Text,
        command_seq -> BigInt,
        command_at_ms -> BigInt,
        retired_at_ms -> Nullable<BigInt>,
        profile -> Nullable<Text>,
        overrides -> Text,
        tags -> Text,
    }
}

diesel::table! {
    profiles (name) {
        name -> Text,
        settings -> Text,
        revision -> BigInt,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    credentials (account_id) {
        account_id -> BigInt,
        key_id -> Text,
        headers_ct -> Binary,
        cookies_ct -> Binary,
        updated_at_ms -> BigInt,
        expires_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    trading_configs (account_id) {
        account_id -> BigInt,
        token -> Text,
        chain -> Nullable<Text>,
        order_usdt -> Text,
        daily_target_usdt -> Text,
        buy_offset_mode -> Text,
        buy_offset_value -> Text,
        sell_offset_mode -> Text,
        sell_offset_value -> Text,
        order_timeout_s -> Integer,
        pending_timeout_s -> Integer,
        volatility_pct -> Text,
        cost_budget_bps -> Text,
        leftover_floor_pct -> Text,
        auto_resume -> Bool,
        webhook_url -> Nullable<Text>,
        revision -> BigInt,
        updated_at_ms -> BigInt,
        daily_target_points -> Nullable<Integer>,
        max_hold_loss_pct -> Text,
        min_mul_point -> Text,
        token_allow -> Text,
        token_switch_min_s -> Integer,
    }
}

diesel::table! {
    token_mappings (alpha_id) {
        alpha_id -> Text,
        symbol -> Text,
        chain_id -> Text,
        contract_address -> Nullable<Text>,
        fetched_at_ms -> BigInt,
    }
}

diesel::table! {
    token_precisions (order_symbol) {
        order_symbol -> Text,
        tick_size -> Text,
        step_size -> Text,
        min_qty -> Text,
        max_qty -> Text,
        min_notional -> Text,
        fetched_at_ms -> BigInt,
    }
}

diesel::table! {
    cycles (id) {
        id -> BigInt,
        account_id -> BigInt,
        intent_id -> Text,
        fencing_token -> BigInt,
        state -> Text,
        order_symbol -> Text,
        buy_price -> Text,
        sell_price -> Text,
        quantity -> Text,
        payment_amount -> Text,
        working_order_id -> Nullable<Text>,
        pending_order_id -> Nullable<Text>,
        order_list_id -> Nullable<Text>,
        bought_qty -> Text,
        sold_qty -> Text,
        volume_usdt -> Text,
        fees_usdt -> Text,
        outcome -> Nullable<Text>,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
        closed_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    orders (id) {
        id -> BigInt,
        account_id -> BigInt,
        cycle_id -> Nullable<BigInt>,
        intent_id -> Text,
        role -> Text,
        exchange_order_id -> Nullable<Text>,
        order_symbol -> Text,
        side -> Text,
        price -> Text,
        quantity -> Text,
        status -> Text,
        filled_qty -> Text,
        filled_quote -> Text,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    fills (id) {
        id -> BigInt,
        account_id -> BigInt,
        order_id -> BigInt,
        exchange_order_id -> Text,
        trade_id -> Text,
        cum_qty -> Text,
        side -> Text,
        price -> Text,
        qty -> Text,
        quote_qty -> Text,
        fee -> Text,
        fee_asset -> Text,
        traded_at_ms -> BigInt,
        recorded_at_ms -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        account_id -> Nullable<BigInt>,
        account_name -> Nullable<Text>,
        kind -> Text,
        level -> Text,
        reason -> Nullable<Text>,
        actor -> Text,
        message -> Text,
        data -> Text,
        webhook_status -> Text,
        created_at_ms -> BigInt,
    }
}

diesel::table! {
    instances (id) {
        id -> Text,
        capacity -> Integer,
        started_at_ms -> BigInt,
        heartbeat_at_ms -> BigInt,
    }
}

diesel::table! {
    leases (account_id) {
        account_id -> BigInt,
        owner -> Nullable<Text>,
        fencing_token -> BigInt,
        expires_at_ms -> BigInt,
        claimed_at_ms -> Nullable<BigInt>,
    }
}

diesel::joinable!(credentials -> accounts (account_id));
diesel::joinable!(trading_configs -> accounts (account_id));
diesel::joinable!(cycles -> accounts (account_id));
diesel::joinable!(orders -> accounts (account_id));
diesel::joinable!(orders -> cycles (cycle_id));
diesel::joinable!(fills -> orders (order_id));
diesel::joinable!(leases -> accounts (account_id));

diesel::table! {
    crossing_wishes (account_id) {
        account_id -> BigInt,
        owner -> Text,
        order_symbol -> Text,
        buy_price -> Nullable<Text>,
        sell_price -> Nullable<Text>,
        since_ms -> BigInt,
        seen_ms -> BigInt,
    }
}

diesel::joinable!(crossing_wishes -> accounts (account_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    credentials,
    trading_configs,
    token_mappings,
    token_precisions,
    cycles,
    orders,
    fills,
    events,
    leases,
    crossing_wishes,
    profiles,
    instances,
);
