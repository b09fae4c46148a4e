//! A TCP proxy a test puts between the gateway and its database, to cut the network without
//! closing anything: [`Proxy::stall`] is a partition (every connection, old or new, stays open
//! and carries nothing in either direction), [`Proxy::resume`] heals it.
//!
//! A connection that lived through a partition is closed when the partition ends, as a real
//! one would have been by timeouts on either side; connections made after [`Proxy::resume`]
//! carry bytes again. Bytes already being written when `stall` is called may still arrive.
//! Dropping the proxy closes its listener and every connection.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Proxy {
    addr: SocketAddr,
    /// `true` while partitioned. Every connection task watches it.
    stalled: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and forwards each accepted connection to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy listens");
        let addr = listener.local_addr().expect("proxy address");
        let (stalled, _) = watch::channel(false);
        let watcher = stalled.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(carry(client, target, watcher.subscribe()));
            }
        });
        Proxy {
            addr,
            stalled,
            accept,
        }
    }

    /// Where to connect instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Partitions: from now on no connection carries bytes, and none is closed.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Heals the partition: connections that lived through it are closed, new ones work.
    pub fn resume(&self) {
        self.stalled.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One connection: forward both ways until either side closes or a partition begins; then
/// hold both sockets open, silent, until it ends (or the proxy is dropped), and close them.
async fn carry(mut client: TcpStream, target: SocketAddr, mut stalled: watch::Receiver<bool>) {
    // Accepted during a partition: the target is not even asked.
    let _server = if *stalled.borrow_and_update() {
        None
    } else {
        let Ok(mut server) = TcpStream::connect(target).await else {
            return;
        };
        tokio::select! {
            // Polled first on every wake-up, so a stall stops the forwarding at once.
            // (`Err`: the proxy was dropped, which ends the connection too.)
            biased;
            _ = stalled.wait_for(|s| *s) => {}
            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
        }
        Some(server)
    };
    // Partitioned: both sockets stay open and unread until the partition ends.
    let _ = stalled.wait_for(|s| !*s).await;
}
