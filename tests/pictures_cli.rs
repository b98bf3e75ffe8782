//! The pictures of a model's history, on a 20-version lineage made by the binary: a retrain,
//! then a weekly fine-tune on a new additions file, some rejected by the gate (a learning rate
//! that wrecks the model) and one forced past it; two versions red-team tested. The
//! version-centric graph and the model-history page are checked as markup and rendered in
//! headless Chromium (Debian's `chromium`, installed by `scripts/setup.sh`): the graph must
//! load as an image at most 1,400 px wide, the page must fit a 1,400 px window.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Env, code, stderr, stdout};

const VERSIONS: usize = 20;

/// Runs `version`; the exit code (0 registered, 3 rejected).
fn run(env: &Env, version: &str, parent: Option<&str>, additions: Option<&str>, lr: &str) -> i32 {
    let path = env.path(&format!("{version}.toml"));
    std::fs::write(
        &path,
        common::tiny_experiment(version, parent, additions, 1, lr),
    )
    .expect("write experiment");
    let mut cmd = env.cairn();
    cmd.current_dir(env.dir.path()).arg("run");
    if version == "1.10.0" {
        cmd.arg("--force");
    }
    let out = cmd.arg(&path).output().expect("run");
    assert!([0, 3].contains(&code(&out)), "{version}: {}", stderr(&out));
    code(&out)
}

/// The lineage: 1.0.0, then 1.1.0 … 1.19.0, each on its own week's additions, fine-tuned
/// from the newest registered version. Weeks 7, 14 and 17 train at a learning rate that
/// the gate refuses; week 10 does too and is forced. Returns the versions rejected and the
/// newest registered.
fn lineage(env: &Env) -> (Vec<String>, String) {
    common::copy_run_fixtures(env);
    let additions = std::fs::read_to_string(env.path("additions.jsonl")).expect("read");
    let lines: Vec<&str> = additions.lines().collect();
    let per = lines.len() / (VERSIONS - 1);
    assert_eq!(run(env, "1.0.0", None, None, "0.01"), 0);
    let mut parent = "tiny@1.0.0".to_string();
    let mut rejected = Vec::new();
    for week in 1..VERSIONS {
        let file = format!("week{week}.jsonl");
        let rows = &lines[(week - 1) * per..week * per];
        std::fs::write(env.path(&file), rows.join("\n") + "\n").expect("write");
        let version = format!("1.{week}.0");
        let lr = if [7, 10, 14, 17].contains(&week) {
            "1.0"
        } else {
            "0.005"
        };
        match run(env, &version, Some(&parent), Some(&file), lr) {
            0 => parent = format!("tiny@{version}"),
            _ => rejected.push(format!("tiny@{version}")),
        }
    }
    (rejected, parent)
}

/// The `font-size`s of an SVG's text, in px.
fn font_sizes(svg: &str) -> Vec<f64> {
    svg.split("font-size=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next()?.parse().ok())
        .collect()
}

/// Where Chromium is, when it is installed; CI must have it.
fn chromium() -> Option<&'static str> {
    let found = Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI renders the pictures in Chromium: run scripts/setup.sh (it installs Debian's chromium)"
        );
        eprintln!("chromium is not installed: the rendering check is skipped");
        return None;
    }
    Some("chromium")
}

/// Headless Chromium, offline, with a throw-away profile in `dir`.
fn headless(chromium: &str, dir: &Path) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg("120").arg(chromium).args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--allow-file-access-from-files",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]);
    cmd.arg(format!("--user-data-dir={}", dir.join("profile").display()));
    cmd
}

#[test]
fn a_twenty_version_history_as_a_graph_and_a_page() {
    let env = Env::new();
    let (rejected, latest) = lineage(&env);
    assert!(
        rejected.len() >= 2,
        "the gate rejects the wrecked weeks: {rejected:?}"
    );
    let suite = env.path("suite.toml");
    std::fs::write(&suite, common::MINI_SUITE).expect("suite");
    let out = env.run(&[
        "redteam",
        "run",
        "--suite",
        suite.to_str().expect("utf-8"),
        "--models",
        &format!("tiny@1.3.0,{latest}"),
    ]);
    assert_eq!(code(&out), 0, "red team: {}", stderr(&out));

    // The graph of the model: every run a card, the rejected ones dashed, the forced one
    // amber; every week's additions file a node.
    let json = common::json(&env, &["graph", "tiny", "--format", "json"]);
    let nodes = json["nodes"].as_array().expect("nodes");
    let gates: Vec<&str> = nodes
        .iter()
        .filter_map(|n| n["version"]["gate"].as_str())
        .collect();
    assert_eq!(gates.len(), VERSIONS);
    assert_eq!(
        gates.iter().filter(|g| **g == "rejected").count(),
        rejected.len()
    );
    assert_eq!(gates.iter().filter(|g| **g == "forced").count(), 1);
    assert_eq!(
        nodes.iter().filter(|n| n["kind"] == "additions").count(),
        VERSIONS - 1
    );
    assert_eq!(nodes.iter().filter(|n| n["kind"] == "base").count(), 1);
    let svg = stdout(&env.run(&["graph", "tiny", "--format", "svg"]));
    assert!(svg.contains(r#"width="1200""#), "{svg}");
    assert_eq!(svg.matches(r#"class="version "#).count(), VERSIONS);
    assert_eq!(
        svg.matches(r#"class="version rejected""#).count(),
        rejected.len()
    );
    assert!(
        font_sizes(&svg).iter().all(|&px| px >= 12.0),
        "text readable without zooming"
    );
    for v in 0..VERSIONS {
        let name = if v == 0 {
            "tiny@1.0.0".to_string()
        } else {
            format!("tiny@1.{v}.0")
        };
        assert!(svg.contains(&format!(">{name}<")), "{name} drawn");
    }

    // The history page, with each registered version's own report beside it.
    let pages = env.path("pages");
    std::fs::create_dir(&pages).expect("mkdir");
    let page_path = pages.join("history.html");
    let out = env.run(&[
        "report",
        "tiny",
        "--html",
        page_path.to_str().expect("utf-8"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "({VERSIONS} runs) and {} version reports beside it",
            VERSIONS - rejected.len()
        )),
        "{}",
        stderr(&out)
    );
    let page = std::fs::read_to_string(&page_path).expect("page");
    for link in page.split("href=\"").skip(1) {
        let target = link.split('"').next().expect("href");
        match target.strip_prefix('#') {
            Some(id) => assert!(page.contains(&format!("id=\"{id}\"")), "#{id}"),
            None => assert!(pages.join(target).is_file(), "{target} written"),
        }
    }
    for version in &rejected {
        assert!(
            page.contains(&format!("<a href=\"#{version}-rejected-")),
            "{version} listed as rejected"
        );
    }
    assert_eq!(page.matches("<section id=").count(), VERSIONS);
    assert!(
        page.contains("red-team detection rate"),
        "the red-team chart"
    );
    assert!(page.contains("test recall per family"), "per-family trends");
    let urls = page.matches("http").count();
    assert_eq!(
        urls,
        page.matches("http://www.w3.org/2000/svg").count(),
        "nothing loaded from the network"
    );
    // A model's history needs --html; a version is not a model.
    let out = env.run(&["report", "tiny"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(
            "`tiny` is a model, not a version: a model's history is a page: add --html FILE"
        ),
        "{}",
        stderr(&out)
    );

    // Rendered in Chromium.
    let Some(chromium) = chromium() else {
        return;
    };
    std::fs::write(pages.join("graph.svg"), &svg).expect("write svg");
    std::fs::write(
        pages.join("check.html"),
        r#"<!DOCTYPE html><html><body style="margin:0">
<img src="graph.svg" onload="document.getElementById('graph').textContent='graph '+this.naturalWidth+'x'+this.naturalHeight" onerror="document.getElementById('graph').textContent='graph failed'">
<iframe src="history.html" style="width:1400px;height:900px;border:0" onload="var d=this.contentDocument;document.getElementById('page').textContent=d?('page '+d.documentElement.scrollWidth+' '+Array.from(d.querySelectorAll('svg')).map(function(s){var r=s.getBoundingClientRect();return Math.round(r.width)+'x'+Math.round(r.height)}).join(',')):'page unreadable'"></iframe>
<p id="graph">graph pending</p><p id="page">page pending</p>
</body></html>"#,
    )
    .expect("write check page");
    let out = headless(chromium, env.dir.path())
        .args(["--window-size=1400,900", "--dump-dom"])
        .arg(format!("file://{}", pages.join("check.html").display()))
        .output()
        .expect("chromium");
    let dom = stdout(&out);
    let result = |id: &str| -> String {
        dom.split(&format!("<p id=\"{id}\">"))
            .nth(1)
            .and_then(|s| s.split("</p>").next())
            .unwrap_or("missing")
            .to_string()
    };
    let graph = result("graph");
    let size: Vec<u32> = graph
        .strip_prefix("graph ")
        .unwrap_or_else(|| panic!("the graph did not load: {graph}\n{}", stderr(&out)))
        .split('x')
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(size.len(), 2, "{graph}");
    assert!(size[0] <= 1400, "the lineage fits 1,400 px: {graph}");
    let page_result = result("page");
    let mut fields = page_result
        .strip_prefix("page ")
        .unwrap_or_else(|| panic!("the page did not render: {page_result}"))
        .split(' ');
    let width: u32 = fields
        .next()
        .and_then(|w| w.parse().ok())
        .expect("scroll width");
    assert!(
        width <= 1400,
        "no sideways scrolling at 1,400 px: {page_result}"
    );
    let drawn: Vec<&str> = fields.next().unwrap_or("").split(',').collect();
    assert_eq!(
        drawn.len(),
        4,
        "three charts and the lineage: {page_result}"
    );
    assert!(
        drawn
            .iter()
            .all(|d| !d.starts_with("0x") && !d.ends_with("x0")),
        "{page_result}"
    );
    // A picture to look at, outside the repository.
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("history.png");
    let out = headless(chromium, env.dir.path())
        .arg("--window-size=1400,2400")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page_path.display()))
        .output()
        .expect("chromium");
    assert!(png.is_file(), "screenshot: {}", stderr(&out));
    eprintln!("rendered the history page to {}", png.display());
}
