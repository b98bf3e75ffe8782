//! `cairn serve`: the HTTP API (`crates/server`) over the store and its tracking database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use cairn_server::{Config, Limits, Server, ctrl_c, read_token};
use clap::Args;

use crate::output::Output;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen. Any address but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8006")]
    addr: SocketAddr,
    /// A file holding the bearer token requests must send (or set CAIRN_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The suite `POST /test` runs.
    #[arg(long, value_name = "FILE", default_value = "suites/default.toml")]
    suite: PathBuf,
}

pub fn serve(store: &Path, out: &Output, args: ServeArgs) -> Result<ExitCode> {
    let config = Config {
        store: store.to_path_buf(),
        database: crate::track::url(),
        suite: args.suite,
        token: read_token(
            args.token_file.as_deref(),
            std::env::var("CAIRN_TOKEN").ok(),
        )?,
        limits: Limits::default(),
    };
    let server = Server::bind(config, args.addr)?;
    out.status(format!("tracking database {}", server.database()));
    out.line(format!("listening on http://{}", server.local_addr()?));
    server.run(ctrl_c())?;
    Ok(ExitCode::SUCCESS)
}
