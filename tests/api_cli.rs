//! `cairn serve`, spoken to over HTTP on a free loopback port: the workflow's endpoints, and
//! 400/401/404 for bad requests.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use common::{Env, PgDatabase, json};
use serde_json::Value;

/// A running `cairn serve`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(env: &Env, extra: &[&str], token: Option<&str>) -> Server {
    let mut cmd = env.cairn();
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--suite"])
        .arg(env.path("mini.toml"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(t) = token {
        cmd.env("CAIRN_TOKEN", t);
    }
    let mut child = cmd.spawn().expect("spawn cairn serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Server { child, addr }
}

/// One HTTP/1.1 request; the status and the parsed JSON body.
fn http(
    server: &Server,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(&server.addr).expect("connect");
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status: u16 = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"));
    (status, value)
}

sqlite_and_postgres!(
    the_api_serves_the_workflow_from_sqlite_and_refuses_bad_requests,
    the_api_serves_the_workflow_from_postgres_and_refuses_bad_requests,
    the_api_serves_the_workflow_and_refuses_bad_requests
);

fn the_api_serves_the_workflow_and_refuses_bad_requests(db: Option<&PgDatabase>) {
    let (env, _) = common::red_team_setup_on(db);
    let server = serve(&env, &[], None);
    let get = |path: &str| http(&server, "GET", path, None, None);

    assert_eq!(get("/health").0, 200);
    // A red-team test over HTTP: the same result type as `cairn redteam run --json`.
    let (status, result) = http(
        &server,
        "POST",
        "/test",
        Some(
            r#"{"models": ["tiny@1.0.0", "alert@1.0.0"], "batch_size": 8, "categories": ["prompt_injection"]}"#,
        ),
        None,
    );
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result["categories"],
        serde_json::json!(["prompt_injection"])
    );
    let shown = json(
        &env,
        &["redteam", "show", result["result"].as_str().expect("hash")],
    );
    assert_eq!(shown, result);

    let (status, tests) = get("/red-team/tests");
    assert_eq!(status, 200);
    assert_eq!(tests.as_array().expect("rows").len(), 2);
    let (_, failures) = get("/model/failures");
    assert_eq!(failures[0]["model"], "tiny@1.0.0");
    assert_eq!(get("/retraining/logs"), (200, serde_json::json!([])));
    let (_, runs) = get("/runs");
    assert_eq!(runs.as_array().expect("rows").len(), 2);
    let (status, run) = get("/runs/tiny@1.0.0");
    assert_eq!(status, 200);
    assert_eq!(run, json(&env, &["show", "tiny@1.0.0"]));
    let (status, graph) = get("/lineage/tiny/latest");
    assert_eq!(status, 200);
    assert!(
        graph["nodes"].as_array().is_some_and(|n| !n.is_empty()),
        "{graph}"
    );

    // User errors are 4xx with one line, never 500.
    let cases = [
        ("POST", "/test", Some("{not json"), 400),
        ("POST", "/test", Some(r#"{"categories": ["nope"]}"#), 400),
        ("POST", "/test", Some(r#"{"colour": 1}"#), 400),
        ("POST", "/test", Some(r#"{"models": ["ghost@1.0.0"]}"#), 404),
        ("GET", "/runs/ghost@1.0.0", None, 404),
        ("GET", "/lineage/ghost@1.0.0", None, 404),
        ("GET", "/no/such/endpoint", None, 404),
    ];
    for (method, path, body, want) in cases {
        let (status, answer) = http(&server, method, path, body, None);
        assert_eq!(status, want, "{method} {path} {body:?}: {answer}");
        let message = answer["error"].as_str().expect("error");
        assert_eq!(message.lines().count(), 1, "{message}");
    }
    let big = format!(r#"{{"models": ["{}"]}}"#, "x".repeat(100_000));
    assert_eq!(http(&server, "POST", "/test", Some(&big), None).0, 413);
}

#[test]
fn a_token_is_required_when_given_and_off_loopback() {
    let (env, _) = common::red_team_setup();
    let token = "a-long-enough-test-token";
    let server = serve(&env, &[], Some(token));
    assert_eq!(http(&server, "GET", "/health", None, None).0, 401);
    assert_eq!(
        http(
            &server,
            "GET",
            "/health",
            None,
            Some("wrong-token-of-some-length")
        )
        .0,
        401
    );
    assert_eq!(http(&server, "GET", "/health", None, Some(token)).0, 200);
    drop(server);
    // Any address but loopback without a token is refused before listening.
    let out = env.run(&["serve", "--addr", "0.0.0.0:0"]);
    assert_ne!(common::code(&out), 0);
    assert!(
        common::stderr(&out).contains("not a loopback address"),
        "{}",
        common::stderr(&out)
    );
}
