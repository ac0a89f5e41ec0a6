//! A TCP proxy the soak puts between the daemon and PostgreSQL or Redis, so that it can take
//! the server away: `cut` closes every connection and refuses new ones until `restore`. It runs
//! on its own thread, so that nothing the soak blocks on (waiting for a process, reading the
//! store) can stall the daemon's traffic.

use std::net::{self, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

struct Shared {
    down: AtomicBool,
    /// Bumped at each cut: every connection made before it ends.
    cuts: watch::Sender<u64>,
    stop: watch::Sender<bool>,
}

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = net::TcpListener::bind("127.0.0.1:0").context("proxy: cannot bind")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            down: AtomicBool::new(false),
            cuts: watch::channel(0).0,
            stop: watch::channel(false).0,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("proxy: no runtime")?;
        let inner = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || runtime.block_on(serve(listener, upstream, inner)))
            .context("proxy: cannot start its thread")?;
        Ok(Self {
            port,
            shared,
            thread: Some(thread),
        })
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&self) {
        self.shared.down.store(true, Ordering::SeqCst);
        self.shared.cuts.send_modify(|n| *n += 1);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.shared.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(listener: net::TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    let mut stop = shared.stop.subscribe();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((client, _)) = accepted else { continue };
        if shared.down.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let mut cuts = shared.cuts.subscribe();
        cuts.mark_unchanged();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let (mut client, mut server) = (client, server);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = cuts.changed() => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;

    /// An echo server on a free port.
    fn echo() -> SocketAddr {
        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn round_trip(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        s.write_all(b"ping")?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf)?;
        Ok(buf.to_vec())
    }

    fn connect(port: u16) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    #[test]
    fn a_cut_ends_open_connections_refuses_new_ones_and_restore_lets_them_through() {
        let proxy = Proxy::start(echo()).unwrap();
        let mut before = connect(proxy.port);
        assert_eq!(round_trip(&mut before).unwrap(), b"ping");

        proxy.cut();
        let mut buf = [0u8; 4];
        // The open connection is closed from the proxy's side: a read sees the end.
        let ended = (0..50).any(|_| {
            let _ = before.write_all(b"ping");
            matches!(before.read(&mut buf), Ok(0) | Err(_))
        });
        assert!(ended, "the connection outlived the cut");
        let mut during = connect(proxy.port);
        assert!(
            round_trip(&mut during).is_err(),
            "a new connection got through"
        );

        proxy.restore();
        let mut after = connect(proxy.port);
        assert_eq!(round_trip(&mut after).unwrap(), b"ping");
    }
}
