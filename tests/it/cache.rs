//! The token cache: shared through Redis between instances, in process without it, and falling
//! back to its in-process copy when Redis goes away.

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::Duration;

use alpha_oto::cache::{CachedToken, Source, TokenCache};
use alpha_oto::market::Grid;

use crate::support::{d, redis_url, unique};

fn log() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn koge() -> CachedToken {
    CachedToken {
        alpha_id: "ALPHA_22".into(),
        chain_id: "56".into(),
        order_symbol: "ALPHA_22USDT".into(),
        stream_symbol: "alpha_22usdt".into(),
        mul_point: d("1"),
    }
}

fn grid() -> Grid {
    Grid {
        tick_size: d("0.00000001"),
        min_price: d("0.00000001"),
        max_price: d("1000"),
        step_size: d("0.0001"),
        min_qty: d("0.0001"),
        max_qty: d("9999999999"),
        min_notional: d("0.1"),
    }
}

#[actix_web::test]
async fn instances_share_what_one_of_them_cached_in_redis() {
    let prefix = format!("{}:", unique("alpha_oto_test"));
    let a = TokenCache::redis(&redis_url(), &prefix, log())
        .await
        .expect("Redis is required for this test");
    let b = TokenCache::redis(&redis_url(), &prefix, log())
        .await
        .unwrap();
    assert!(b.mapping("KOGE", None).await.is_none());
    a.put_mapping("koge", None, &koge()).await;
    a.put_precision("ALPHA_22USDT", &grid()).await;
    assert_eq!(b.mapping("KOGE", None).await, Some((koge(), Source::Redis)));
    assert_eq!(
        b.precision("ALPHA_22USDT").await,
        Some((grid(), Source::Redis))
    );
    assert!(
        b.mapping("KOGE", Some("8453")).await.is_none(),
        "the chain is part of the key"
    );
    // Redis forgets on time too.
    a.put_mapping_for("ZKJ", Some("56"), &koge(), Duration::from_secs(1))
        .await;
    assert!(b.mapping("ZKJ", Some("56")).await.is_some());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(b.mapping("ZKJ", Some("56")).await.is_none());
}

#[actix_web::test]
async fn without_redis_the_cache_lives_in_the_process_and_expires() {
    let c = TokenCache::in_memory(log());
    c.put_mapping("KOGE", None, &koge()).await;
    assert_eq!(
        c.mapping("KOGE", None).await,
        Some((koge(), Source::Memory))
    );
    c.put_mapping_for("NEX", None, &koge(), Duration::from_millis(50))
        .await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(c.mapping("NEX", None).await.is_none());
}

struct PrivateRedis(Child);

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn private_redis() -> (PrivateRedis, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server must be installed (the test command installs it)");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the private redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (PrivateRedis(child), format!("redis://127.0.0.1:{port}"))
}

#[actix_web::test]
async fn when_redis_goes_away_the_cache_keeps_answering_from_the_process() {
    let (server, url) = private_redis();
    let c = TokenCache::redis(&url, "t:", log()).await.unwrap();
    c.put_mapping("KOGE", None, &koge()).await;
    assert_eq!(
        c.mapping("KOGE", None).await.map(|(_, s)| s),
        Some(Source::Redis)
    );
    drop(server);
    let started = std::time::Instant::now();
    assert_eq!(
        c.mapping("KOGE", None).await,
        Some((koge(), Source::Memory))
    );
    c.put_precision("ALPHA_22USDT", &grid()).await;
    assert_eq!(
        c.precision("ALPHA_22USDT").await,
        Some((grid(), Source::Memory))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an absent Redis costs little time"
    );

    // A Redis that does not answer at start is a configuration error, said at once.
    assert!(TokenCache::redis(&url, "t:", log()).await.is_err());
}
