//! What one injection costs, beside the floor: the same HTTP requests made
//! with a bare `ureq::Agent`.
//!
//! ```text
//! cargo run --release --example bench -- [--n 5000] [--threads K]
//!     [--only library|library+state|floor] [--base-url URL --webhook-url URL] [--json]
//! ```
//!
//! Without `--base-url`, an in-process keep-alive HTTP/1.1 server on
//! 127.0.0.1 plays the platform and the webhook. Without `--threads`, the
//! runs use K = 1, 8 and 32 threads sharing one `Injector`. Each run also
//! reports the TCP connections the server accepted per injection. The
//! `library+state` side is the library with a state directory (a fresh one
//! under the system's temporary directory): every webhook event is written
//! to disk before `inject` returns.
//!
//! CPU figures: "process" is getrusage(RUSAGE_SELF), which includes the
//! in-process server; "client" counts only the threads of the measured side
//! (the calling threads, plus the library's webhook thread).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use genesys_inject::{validate, ContentBlock, InjectRequest, Injector, SafetyPolicy};
use serde_json::{json, Value};

mod cpu;
mod server;
mod validate;

use cpu::*;
use server::*;
use validate::*;

const SIDES: [&str; 3] = ["library", "library+state", "floor"];
const CONV: &str = "ec35f2a8-289b-42d4-8893-c50eaf81a3c1";
const COMM: &str = "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90";
/// The library's per-phase timeouts, used by the floor too (see docs/performance.md).
const TIMEOUT: Duration = Duration::from_secs(10);
/// The library's default `max_idle_connections` (per host).
const POOL: usize = 64;

struct Options {
    n: usize,
    threads: Vec<usize>,
    only: Option<String>,
    base_url: Option<String>,
    webhook_url: Option<String>,
    json: bool,
    repeat: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        n: 5000,
        threads: vec![1, 8, 32],
        only: None,
        base_url: None,
        webhook_url: None,
        json: false,
        repeat: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--n" => o.n = value()?.parse().map_err(|e| format!("--n: {e}"))?,
            "--threads" => {
                o.threads = vec![value()?.parse().map_err(|e| format!("--threads: {e}"))?]
            }
            "--only" => {
                o.only = Some(value()?)
                    .filter(|v| SIDES.contains(&v.as_str()))
                    .ok_or("--only takes library, library+state or floor")?
                    .into()
            }
            "--base-url" => o.base_url = Some(value()?),
            "--webhook-url" => o.webhook_url = Some(value()?),
            "--json" => o.json = true,
            "--repeat" => o.repeat = value()?.parse().map_err(|e| format!("--repeat: {e}"))?,
            "--validate" => {
                print_validate_figures();
                std::process::exit(0);
            }
            "-h" | "--help" => {
                println!("usage: bench [--n N] [--threads K] [--repeat R] [--only library|library+state|floor] [--base-url URL --webhook-url URL] [--json] | --validate");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.n == 0 || o.repeat == 0 || o.threads.contains(&0) {
        return Err("--n, --threads and --repeat must be at least 1".into());
    }
    if o.base_url.is_some() != o.webhook_url.is_some() {
        return Err("--base-url and --webhook-url go together".into());
    }
    Ok(o)
}

/// A 2-block, 200-character message; `i` makes each one unique.
fn blocks(i: usize) -> Vec<ContentBlock> {
    let head = format!("Your order {i:08} has shipped and will arrive tomorrow between nine and noon. Track it from the app ");
    let tail = "or reply here if anything about the delivery needs to change; we are happy to help you any time today!!";
    vec![
        ContentBlock::text(&head[..100]),
        ContentBlock::text(&tail[..100]),
    ]
}

struct Run {
    side: &'static str,
    threads: usize,
    wall: Duration,
    drain: Duration,
    latencies: Vec<Duration>,
    cpu_process: Duration,
    cpu_client: Duration,
    /// TCP connections the in-process server accepted during the run.
    connections: Option<u64>,
    /// Webhook events the library counted delivered.
    delivered: Option<u64>,
}

/// Runs `per_call(i)` n times over k threads; returns wall time, sorted
/// latencies and the calling threads' CPU time.
fn drive(
    n: usize,
    k: usize,
    per_call: &(dyn Fn(usize) + Sync),
) -> (Duration, Vec<Duration>, Duration) {
    let start = Instant::now();
    let (mut latencies, cpu) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..k)
            .map(|t| {
                std::thread::Builder::new()
                    .name(format!("bench-client-{t}"))
                    .spawn_scoped(s, move || {
                        let mut lat = Vec::with_capacity(n / k + 1);
                        for i in (t..n).step_by(k) {
                            let call = Instant::now();
                            per_call(i);
                            lat.push(call.elapsed());
                        }
                        (lat, thread_cpu())
                    })
                    .expect("spawn client thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .fold((Vec::new(), Duration::ZERO), |(mut all, c), (lat, tc)| {
                all.extend(lat);
                (all, c + tc)
            })
    });
    latencies.sort_unstable();
    (start.elapsed(), latencies, cpu)
}

/// The library's side; with `state`, a fresh state directory there.
fn run_library(n: usize, k: usize, base: &str, webhook: &str, state: bool) -> Run {
    let dir = std::env::temp_dir().join(format!("genesys-inject-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let builder = Injector::builder()
        .base_url(base)
        .credentials("bench-client", "bench-secret")
        .webhook_url(webhook)
        // The client's own cost is measured, not the platform's budget.
        .requests_per_minute(None)
        // Hold every event of the run: the webhook thread posts them while
        // and after the injections run, and the CPU figures include that.
        .webhook_queue_capacity(n.max(1024))
        .outbox_max_events(n.max(10_000));
    let injector = if state {
        builder.state_dir(&dir)
    } else {
        builder
    }
    .build()
    .expect("injector");
    let cpu0 = process_cpu();
    let (wall, latencies, cpu_threads) = drive(n, k, &|i| {
        injector
            .inject(&InjectRequest::new(CONV, COMM, blocks(i)))
            .expect("inject");
    });
    let drain_start = Instant::now();
    assert!(
        injector.flush(Duration::from_secs(60)),
        "webhook events not delivered"
    );
    let drain = drain_start.elapsed();
    let webhook_cpu = threads_cpu("genesys-inject-");
    let stats = injector.webhook_stats();
    assert_eq!(stats.delivered, n as u64, "webhook stats: {stats:?}");
    assert_eq!(stats.on_disk, 0, "webhook stats: {stats:?}");
    let cpu_process = process_cpu() - cpu0;
    drop(injector);
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        delivered: Some(stats.delivered),
        side: if state { "library+state" } else { "library" },
        threads: k,
        wall,
        drain,
        latencies,
        cpu_process,
        cpu_client: cpu_threads + webhook_cpu,
        connections: None,
    }
}

fn floor_agent() -> ureq::Agent {
    // The library's agent configuration: per-phase timeouts only (no global,
    // per-call or resolve timeout, which spawn a resolver thread per request).
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .max_idle_connections(POOL * 2)
        .max_idle_connections_per_host(POOL)
        .timeout_connect(Some(TIMEOUT))
        .timeout_send_request(Some(TIMEOUT))
        .timeout_send_body(Some(TIMEOUT))
        .timeout_recv_response(Some(TIMEOUT))
        .timeout_recv_body(Some(TIMEOUT))
        .build()
        .new_agent()
}

fn run_floor(n: usize, k: usize, base: &str, webhook: &str) -> Run {
    let agent = floor_agent();
    let post = |url: &str, auth: Option<&str>, ctype: &str, body: &[u8]| {
        let mut req = agent.post(url).header("content-type", ctype);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let mut resp = req.send(body).expect("floor request");
        let body = resp.body_mut().read_to_vec().expect("floor body");
        (resp.status().as_u16(), body)
    };
    let cpu0 = process_cpu();
    let (_, token) = post(
        &format!("{base}/oauth/token"),
        Some("Basic YmVuY2gtY2xpZW50OmJlbmNoLXNlY3JldA=="),
        "application/x-www-form-urlencoded",
        b"grant_type=client_credentials",
    );
    let token: Value = serde_json::from_slice(&token).expect("token JSON");
    let bearer = format!(
        "Bearer {}",
        token["access_token"].as_str().expect("access_token")
    );
    let comm = format!("{base}/api/v2/conversations/messages/{CONV}/communications/{COMM}");
    let (typing_url, message_url) = (format!("{comm}/typing"), format!("{comm}/messages"));
    let (wall, latencies, cpu_client) = drive(n, k, &|i| {
        let text: String = blocks(i).iter().map(ContentBlock::as_str).collect();
        post(
            &typing_url,
            Some(&bearer),
            "application/json",
            br#"{"typing":{"type":"On"}}"#,
        );
        let body = serde_json::to_vec(&json!({ "textBody": text })).unwrap();
        let (status, _) = post(&message_url, Some(&bearer), "application/json", &body);
        assert_eq!(status, 200);
        let entry = format!(
            r#"{{"timestamp":"2026-11-26T12:00:00.000Z","interactionId":"{CONV}","status":"SUCCESS","latencyMs":1,"messageSize":200,"eventType":"bot_message_injection","governanceChannel":"digital_chat"}}"#
        );
        let event =
            serde_json::to_vec(&json!({"auditEntry": entry, "displayRate": 1, "latencyMs": 1}))
                .unwrap();
        post(webhook, None, "application/json", &event);
    });
    let cpu_process = process_cpu() - cpu0;
    Run {
        side: "floor",
        threads: k,
        wall,
        drain: Duration::ZERO,
        latencies,
        cpu_process,
        cpu_client,
        connections: None,
        delivered: None,
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e6
}

fn figures(r: &Run, n: usize) -> Value {
    json!({
        "side": r.side,
        "threads": r.threads,
        "injections_per_s": n as f64 / r.wall.as_secs_f64(),
        "end_to_end_per_s": n as f64 / (r.wall + r.drain).as_secs_f64(),
        "p50_us": pct(&r.latencies, 0.50),
        "p99_us": pct(&r.latencies, 0.99),
        "max_us": pct(&r.latencies, 1.0),
        "cpu_process_us_per_injection": r.cpu_process.as_secs_f64() * 1e6 / n as f64,
        "cpu_client_us_per_injection": r.cpu_client.as_secs_f64() * 1e6 / n as f64,
        "webhook_drain_ms": r.drain.as_secs_f64() * 1e3,
        "connections_per_injection": r.connections.map(|c| c as f64 / n as f64),
        "wall_us_per_injection": r.wall.as_secs_f64() * 1e6 / n as f64,
        "webhook_events_delivered": r.delivered,
    })
}

/// Each numeric field's median over the repetitions.
fn median(reps: &[Value]) -> Value {
    let mut out = reps[0].clone();
    for (key, value) in out.as_object_mut().unwrap() {
        if value.is_f64() {
            let mut all: Vec<f64> = reps
                .iter()
                .map(|r| r[key.as_str()].as_f64().unwrap())
                .collect();
            all.sort_by(f64::total_cmp);
            *value = json!(all[all.len() / 2]);
        }
    }
    out
}

fn main() {
    env_logger::init();
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    let counts = Arc::new(Counts::default());
    let (base, webhook) = match (&o.base_url, &o.webhook_url) {
        (Some(b), Some(w)) => (b.clone(), w.clone()),
        _ => {
            let base = start_server(counts.clone());
            (base.clone(), format!("{base}/webhook"))
        }
    };
    let sides: Vec<&str> = match o.only.as_deref() {
        Some(side) => vec![side],
        None => SIDES.to_vec(),
    };
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    for &k in &o.threads {
        // Sides alternate within each repetition, so that drift in the
        // machine's load affects both alike; each figure is the median.
        let mut measured: Vec<Vec<Value>> = vec![Vec::new(); sides.len()];
        for _ in 0..o.repeat {
            for (s, &side) in sides.iter().enumerate() {
                let snapshot = || {
                    [
                        &counts.typing,
                        &counts.messages,
                        &counts.webhooks,
                        &counts.connections,
                    ]
                    .map(|c| c.load(Relaxed))
                };
                let before = snapshot();
                let mut run = match side {
                    "floor" => run_floor(o.n, k, &base, &webhook),
                    side => run_library(o.n, k, &base, &webhook, side == "library+state"),
                };
                if o.base_url.is_none() {
                    let after = snapshot();
                    run.connections = Some(after[3] - before[3]);
                    let got: Vec<u64> = (0..3).map(|i| after[i] - before[i]).collect();
                    if got.iter().any(|&g| g != o.n as u64) {
                        failures.push(format!(
                            "{side} K={k}: server received {} typing calls, {} messages and {} webhook events, expected {} each",
                            got[0], got[1], got[2], o.n
                        ));
                    }
                }
                measured[s].push(figures(&run, o.n));
            }
        }
        runs.extend(measured.iter().map(|reps| median(reps)));
    }
    let ratios: Vec<Value> = o
        .threads
        .iter()
        .filter_map(|&k| {
            let find = |side: &str| runs.iter().find(|r| r["side"] == side && r["threads"] == k);
            let (lib, floor) = (find("library")?, find("floor")?);
            let ratio = |key: &str| lib[key].as_f64().unwrap() / floor[key].as_f64().unwrap();
            Some(json!({
                "threads": k,
                "throughput": ratio("injections_per_s"),
                "end_to_end": ratio("end_to_end_per_s"),
                "cpu_process": ratio("cpu_process_us_per_injection"),
                "cpu_client": ratio("cpu_client_us_per_injection"),
            }))
        })
        .collect();
    let validate = validate_ns();
    let report = json!({
        "n": o.n,
        "repeat": o.repeat,
        "server": if o.base_url.is_some() { "external" } else { "in-process, keep-alive HTTP/1.1" },
        "runs": runs,
        "ratios": ratios,
        "validate_2000_units_ns": validate,
        "peak_rss_kib": peak_rss_kib(),
        "checks": if failures.is_empty() { json!("ok") } else { json!(failures) },
    });

    if o.json {
        println!("{report}");
    } else {
        println!(
            "genesys-inject bench: N = {} injections of 2 blocks × 100 chars, webhook on; server: {}; median of {} runs",
            o.n,
            report["server"].as_str().unwrap(),
            o.repeat
        );
        println!();
        println!("| side | K | injections/s | with webhook drain /s | p50 µs | p99 µs | CPU µs/inj (process) | CPU µs/inj (client) | connections/inj |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &runs {
            let connections = r["connections_per_injection"]
                .as_f64()
                .map_or("-".into(), |c| format!("{c:.4}"));
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {connections} |",
                r["side"].as_str().unwrap(),
                r["threads"],
                r["injections_per_s"].as_f64().unwrap(),
                r["end_to_end_per_s"].as_f64().unwrap(),
                r["p50_us"].as_f64().unwrap(),
                r["p99_us"].as_f64().unwrap(),
                r["cpu_process_us_per_injection"].as_f64().unwrap(),
                r["cpu_client_us_per_injection"].as_f64().unwrap()
            );
        }
        for r in &ratios {
            println!(
                "| library/floor | {} | {:.2}× | {:.2}× | | | {:.2}× | {:.2}× | |",
                r["threads"],
                r["throughput"].as_f64().unwrap(),
                r["end_to_end"].as_f64().unwrap(),
                r["cpu_process"].as_f64().unwrap(),
                r["cpu_client"].as_f64().unwrap()
            );
        }
        println!();
        for r in runs.iter().filter(|r| r["side"] != "floor") {
            println!(
                "{} K={}: webhook events delivered {} of {}, the last {:.0} ms after the last inject returned; {:.1} µs wall per injection",
                r["side"].as_str().unwrap(),
                r["threads"],
                r["webhook_events_delivered"],
                o.n,
                r["webhook_drain_ms"].as_f64().unwrap(),
                r["wall_us_per_injection"].as_f64().unwrap()
            );
        }
        println!("validate, 2000 UTF-16 units, default safety policy: {validate:.0} ns per call");
        println!(
            "peak RSS (VmHWM) of the whole bench: {:.1} MiB",
            report["peak_rss_kib"].as_f64().unwrap() / 1024.0
        );
        match &failures[..] {
            [] if o.base_url.is_none() => println!("server check: every run made exactly N typing calls, N messages and N webhook events"),
            [] => println!("server check: skipped (external server)"),
            f => println!("server check FAILED: {}", f.join("; ")),
        }
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
