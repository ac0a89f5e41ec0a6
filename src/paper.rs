//! Paper mode: the simulator's tokens take their prices from a live public aggTrade stream
//! (`wss://.../w3w/wsa/stream`) instead of the random walk, so orders fill against the real
//! market with no real money. It joins the exchange's stream client to the simulator, which
//! itself knows only the wire.

use crate::exchange::stream::{self, StreamConfig, StreamEvent};
use crate::exchange::wire::stream::AggTradeEvent;
use crate::sim::server::SimHandle;

/// Follows `url`'s trades for every token the simulator lists, for as long as the runtime runs.
pub fn follow_prices(sim: &SimHandle, url: &str) {
    let (handle, mut events) = stream::spawn(StreamConfig::public(url), sim.trade_streams());
    let state = sim.state.clone();
    actix_web::rt::spawn(async move {
        // The handle lives as long as this task: dropping it would close the stream.
        let _handle = handle;
        while let Some(event) = events.recv().await {
            let StreamEvent::Frame { data, .. } = event else {
                continue;
            };
            let Ok(trade) = serde_json::from_str::<AggTradeEvent>(&data) else {
                continue;
            };
            state.follow_price(&trade.symbol, trade.price);
        }
    });
}
