//! `cairn-datagen [--out DIR] [--seed N]`: writes the synthetic data set.

use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> &'static str {
    "usage: cairn-datagen [--out DIR] [--seed N]\n  --out DIR   output folder (default: datasets)\n  --seed N    random seed (default: 20261123)"
}

fn main() -> ExitCode {
    let mut out = PathBuf::from("datasets");
    let mut seed = cairn_datagen::DEFAULT_SEED;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => match args.next() {
                Some(v) => out = PathBuf::from(v),
                None => {
                    eprintln!("--out needs a folder\n{}", usage());
                    return ExitCode::from(2);
                }
            },
            "--seed" => match args.next().map(|v| v.parse::<u64>()) {
                Some(Ok(v)) => seed = v,
                _ => {
                    eprintln!("--seed needs a non-negative integer\n{}", usage());
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{}", usage());
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument: {other}\n{}", usage());
                return ExitCode::from(2);
            }
        }
    }
    match cairn_datagen::write_all(&out, seed) {
        Ok(summary) => {
            println!("wrote {} (seed {seed})", out.display());
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cairn-datagen: cannot write {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}
