//! The routes through the library: a server bound on loopback, asked over a real socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use std::time::{Duration, Instant};

use cairn_server::{Config, Limits, Server, ServerError, read_token};
use cairn_store::Store;

/// A running server on a fresh store; stops when dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServerError>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The project's default red-team suite.
fn suite() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites/default.toml")
}

fn start(token: Option<&str>) -> Running {
    start_with(token, Limits::default())
}

fn start_with(token: Option<&str>, limits: Limits) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    Store::init(&store).expect("store");
    let config = Config {
        store,
        database: None,
        suite: suite(),
        token: token.map(str::to_string),
        limits,
    };
    let server = Server::bind(config, "127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = server.local_addr().expect("addr");
    assert!(
        server.database().ends_with("track.db"),
        "{}",
        server.database()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        server.run(async {
            let _ = stopped.await;
        })
    });
    Running {
        addr,
        stop: Some(stop),
        thread: Some(thread),
        _dir: dir,
    }
}

/// The status code and body of one request.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(text.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status: u16 = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, json)
}

#[test]
fn health_and_analytics_answer_json_and_unknown_paths_are_json_404s() {
    let server = start(None);
    let (status, body) = request(server.addr, "GET", "/health", &[], "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["schema"], cairn_track::SCHEMA_VERSION);
    let (status, body) = request(server.addr, "GET", "/runs", &[], "");
    assert_eq!(status, 200, "{body}");
    assert!(body.as_array().is_some_and(Vec::is_empty), "{body}");
    let (status, body) = request(server.addr, "GET", "/runs/nothing@1.0.0", &[], "");
    assert_eq!(status, 404, "{body}");
    let (status, body) = request(server.addr, "GET", "/no/such/route", &[], "");
    assert_eq!(status, 404);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("GET /health")),
        "{body}"
    );
    let (status, body) = request(
        server.addr,
        "POST",
        "/test",
        &["Content-Type: application/json"],
        r#"{"categories": ["no-such-category"]}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("no-such-category")),
        "{body}"
    );
}

#[test]
fn a_token_is_required_when_set_and_off_loopback() {
    let token = "a-long-enough-secret-token";
    let server = start(Some(token));
    let (status, body) = request(server.addr, "GET", "/health", &[], "");
    assert_eq!(status, 401, "{body}");
    let wrong = "Authorization: Bearer a-long-enough-secret-tokeN";
    assert_eq!(request(server.addr, "GET", "/health", &[wrong], "").0, 401);
    let right = format!("Authorization: Bearer {token}");
    assert_eq!(request(server.addr, "GET", "/health", &[&right], "").0, 200);

    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        store: dir.path().join("store"),
        database: None,
        suite: suite(),
        token: None,
        limits: Limits::default(),
    };
    let refused = Server::bind(config.clone(), "0.0.0.0:0".parse().expect("addr"));
    assert!(matches!(refused, Err(ServerError::NoToken(_))));
    // The suite every `POST /test` runs is checked before the server starts.
    Store::init(dir.path().join("store")).expect("store");
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[[attack]]\nid = \n").expect("write");
    let refused = Server::bind(
        Config {
            suite: broken,
            ..config
        },
        "127.0.0.1:0".parse().expect("addr"),
    );
    assert!(
        matches!(&refused, Err(ServerError::Suite(_))),
        "{:?}",
        refused.err()
    );
    // The scheme is case-insensitive; a token with spaces inside can never be sent.
    let lower = format!("Authorization: bearer {token}");
    assert_eq!(request(server.addr, "GET", "/health", &[&lower], "").0, 200);
    assert!(matches!(
        read_token(None, Some("a long enough token with spaces".into())),
        Err(ServerError::SpacedToken)
    ));
    assert_eq!(
        read_token(None, Some(format!("  {token}\n")))
            .ok()
            .flatten()
            .as_deref(),
        Some(token)
    );
    assert!(matches!(
        read_token(None, Some("short".into())),
        Err(ServerError::ShortToken(16))
    ));
    assert_eq!(
        read_token(None, Some(token.into()))
            .ok()
            .flatten()
            .as_deref(),
        Some(token)
    );
}

#[test]
fn bodies_that_are_not_objects_and_wrong_methods_get_json_4xx() {
    let server = start(None);
    let json = ["Content-Type: application/json"];
    let (status, body) = request(server.addr, "POST", "/test", &json, "[]");
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("JSON object")),
        "{body}"
    );
    let (status, body) = request(server.addr, "DELETE", "/health", &[], "");
    assert_eq!(status, 405, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = request(server.addr, "GET", "/runs/%FF%FE", &[], "");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string(), "{body}");
}

/// Connections that send nothing, or half a request, cannot hold the server down: a valid
/// request is answered within a second while thousands are held, connections over the cap
/// are answered 503 at once instead of stalling, and the held ones are closed after the
/// header-read timeout, which frees their places.
#[test]
fn idle_and_half_sent_connections_cannot_hold_the_server_down() {
    let token = "a-long-enough-secret-token";
    let auth = format!("Authorization: Bearer {token}");
    let limits = Limits {
        connections: 4096,
        header_read: Duration::from_secs(2),
        tests: 2,
    };
    let server = start_with(Some(token), limits);
    let mut held = Vec::new();
    for i in 0..3000 {
        let mut s = TcpStream::connect(server.addr).expect("connect");
        if i % 2 == 0 {
            s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                .expect("half a request");
        }
        held.push(s);
    }
    let clock = Instant::now();
    let (status, body) = request(server.addr, "GET", "/health", &[&auth], "");
    let took = clock.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(
        took < Duration::from_secs(1),
        "answered in {took:?} with 3,000 connections held"
    );
    eprintln!("3,000 idle or half-sent connections held: a valid request answered in {took:?}");
    // Every held connection is closed by the server once its headers are overdue.
    std::thread::sleep(Duration::from_millis(2500));
    let mut closed = 0;
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut buf = [0u8; 256];
        // End of stream (or the server's last word before it): closed. A read that times
        // out: still held open.
        if s.read(&mut buf).is_ok() {
            closed += 1;
        }
    }
    assert_eq!(
        closed,
        held.len(),
        "every held connection was closed or answered"
    );
    drop(held);

    // Over the cap: a 503 at once, not a stall; places come back after the timeout.
    let small = start_with(
        Some(token),
        Limits {
            connections: 8,
            header_read: Duration::from_secs(1),
            tests: 2,
        },
    );
    let idle: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(small.addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let clock = Instant::now();
    let (status, body) = request(small.addr, "GET", "/health", &[&auth], "");
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("connection limit")),
        "{body}"
    );
    assert!(clock.elapsed() < Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(1500));
    let (status, body) = request(small.addr, "GET", "/health", &[&auth], "");
    assert_eq!(status, 200, "{body}");
    drop(idle);
}
