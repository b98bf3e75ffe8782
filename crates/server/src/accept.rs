//! Accepting connections: at most `connections` at once (the rest are answered 503 and
//! closed at once, so a flood of idle sockets can never take the file descriptors a valid
//! request needs), each closed when its request headers do not arrive within
//! `header_read` (hyper's header-read timeout).

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::Limits;

/// The answer a connection over the cap gets before it is closed.
const SHED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 62\r\n\r\n{\"error\":\"the server is at its connection limit: retry later\"}";

/// Serves `router` on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.connections));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // Out of descriptors (or a connection reset before it was accepted): wait a
            // moment rather than spin; held connections time out meanwhile.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match open.clone().try_acquire_owned() {
            Ok(permit) => {
                let router = router.clone();
                tokio::spawn(async move {
                    connection(stream, router, limits.header_read).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(shed(stream));
            }
        }
    }
}

async fn connection(stream: TcpStream, router: axum::Router, header_read: Duration) {
    let service = TowerToHyperService::new(router);
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn shed(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(SHED)).await;
    let _ = stream.shutdown().await;
}
