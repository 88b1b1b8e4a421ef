//! `bench/auth`: what checking a token costs a request (issue 15).
//!
//! A [`Keyring`] over a token file of `--tokens` tokens, made with the same
//! [`TokenFile::create`] `skein token create` calls; then, in `--reps` runs of
//! `--checks / --reps` calls each, the median and range of nanoseconds per call (by the
//! thread's CPU time, since the machine may be busy; the wall-clock median too) of:
//!
//! - `Keyring::check` with a valid secret and with an unknown one (one SHA-256 of the
//!   secret, one map look-up of the digest, a constant-time confirm, an expiry check);
//! - the SHA-256 alone, to show how much of that it is;
//! - `Auth::identify` on request headers with `Authorization: Bearer …` (header parsing
//!   on top);
//! - `Keyring::check` from two threads at once (both cores), per call per thread;
//! - the guard middleware end to end: a router with `POST /api/v1/ingest` and the real
//!   guard as its `route_layer`, against the same router without it, each request
//!   driven to its answer in process; the difference is what the guard adds.

use anyhow::{ensure, Result};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::routing::post;
use axum::Router;
use clap::Parser;
use skein_bench::stats::machine;
use skein_web::auth::tokens::{digest, new_secret};
use skein_web::auth::{Auth, AuthConfig, Keyring, Scopes, TokenFile};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

/// Nanoseconds per token check, in process.
#[derive(Parser)]
struct Args {
    /// Tokens in the keyring.
    #[arg(long, default_value_t = 100)]
    tokens: usize,
    /// Calls per measurement (split into --reps runs).
    #[arg(long, default_value_t = 1_000_000)]
    checks: usize,
    /// Runs per measurement; the median run is reported.
    #[arg(long, default_value_t = 20)]
    reps: usize,
    /// Requests per run of the end-to-end guard measurement (heavier: a whole router
    /// call with a request and a response each).
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
}

/// Per-run nanoseconds per call: the median, minimum and maximum run by the thread's
/// CPU time (what a check costs, whatever else the machine runs), and the median run by
/// the wall clock (which also counts time the thread waited for a core).
struct Timing {
    median: f64,
    min: f64,
    max: f64,
    wall: f64,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>7.1} ns CPU (runs {:.1}–{:.1}), {:.1} ns wall",
            self.median, self.min, self.max, self.wall
        )
    }
}

/// CPU nanoseconds the calling thread has used.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Times `n` calls of `run_n` (which makes them) in `reps` runs after one run to warm up.
fn runs(reps: usize, n: usize, mut run_n: impl FnMut()) -> Timing {
    run_n();
    let mut cpu = Vec::with_capacity(reps);
    let mut wall = Vec::with_capacity(reps);
    for _ in 0..reps {
        let (c, t) = (thread_cpu_ns(), Instant::now());
        run_n();
        wall.push(t.elapsed().as_nanos() as f64 / n as f64);
        cpu.push((thread_cpu_ns() - c) as f64 / n as f64);
    }
    cpu.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    Timing {
        median: cpu[reps / 2],
        min: cpu[0],
        max: cpu[reps - 1],
        wall: wall[reps / 2],
    }
}

/// `reps` runs of `n` calls of `f`.
fn measure(reps: usize, n: usize, mut f: impl FnMut()) -> Timing {
    runs(reps, n, || {
        for _ in 0..n {
            f();
        }
    })
}

fn main() -> Result<()> {
    let a = Args::parse();
    ensure!(
        a.tokens > 0 && a.reps > 0 && a.checks >= a.reps,
        "nothing to measure"
    );
    let per_rep = a.checks / a.reps;
    let dir = tempfile::tempdir()?;
    let file = TokenFile::new(dir.path());
    let ingest = Scopes::parse("ingest").map_err(anyhow::Error::msg)?;
    let mut secrets = Vec::with_capacity(a.tokens);
    for i in 0..a.tokens {
        let (_, secret) = file.create(Some(&format!("bench-{i}")), ingest, None)?;
        secrets.push(secret);
    }
    let keyring = Keyring::open(dir.path(), vec![])?;
    let valid = secrets[a.tokens / 2].clone();
    let unknown = new_secret();
    ensure!(keyring.check(&valid).is_ok(), "the valid token was refused");
    ensure!(keyring.check(&unknown).is_err(), "the unknown token passed");

    let check_valid = measure(a.reps, per_rep, || {
        black_box(keyring.check(black_box(&valid)).is_ok());
    });
    let check_unknown = measure(a.reps, per_rep, || {
        black_box(keyring.check(black_box(&unknown)).is_err());
    });
    let sha = measure(a.reps, per_rep, || {
        black_box(digest(black_box(&valid)));
    });

    let auth = Arc::new(Auth::new(AuthConfig::default(), keyring));
    ensure!(auth.enabled(), "auth is off with {} tokens", a.tokens);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {valid}"))?,
    );
    headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9280"));
    ensure!(matches!(auth.identify(&headers), Ok(Some(_))));
    let identify = measure(a.reps, per_rep, || {
        black_box(auth.identify(black_box(&headers)).is_ok());
    });

    // Two threads at once: the shared key map and its reference count under contention.
    let two: Vec<Timing> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let auth = &auth;
                let valid = &valid;
                s.spawn(move || {
                    measure(a.reps, per_rep, || {
                        black_box(auth.keyring.check(black_box(valid)).is_ok());
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });

    let (guarded, bare) = guard_end_to_end(&auth, &valid, a.reps, a.requests)?;

    println!("bench/auth — {}", machine());
    println!(
        "{} tokens (ingest scope) in the keyring; {} runs of {per_rep} calls each (guard: {} runs of {} requests); median run, ns per call",
        a.tokens, a.reps, a.reps, a.requests
    );
    println!("Keyring::check, valid token:         {check_valid}");
    println!("Keyring::check, unknown token:       {check_unknown}");
    println!("  of which SHA-256 of the secret:    {sha}");
    println!("Auth::identify, Bearer header:       {identify}");
    println!("Keyring::check, valid, 2 threads at once:");
    println!("  thread 1:                          {}", two[0]);
    println!("  thread 2:                          {}", two[1]);
    println!("router with the guard, POST /api/v1/ingest (valid token, empty handler): {guarded}");
    println!("same router without the guard:                                          {bare}");
    println!(
        "the guard adds: {:.0} ns of CPU per request (difference of the medians)",
        guarded.median - bare.median
    );
    Ok(())
}

/// Nanoseconds per request through a router with `POST /api/v1/ingest` (an empty handler)
/// and the real guard, and through the same router without the guard.
fn guard_end_to_end(
    auth: &Arc<Auth>,
    secret: &str,
    reps: usize,
    requests: usize,
) -> Result<(Timing, Timing)> {
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let bare: Router = Router::new().route("/api/v1/ingest", post(|| async { StatusCode::OK }));
    let guarded = bare
        .clone()
        .route_layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            skein_web::auth::guard::guard,
        ));
    let bearer = format!("Bearer {secret}");
    let request = || {
        Request::post("/api/v1/ingest")
            .header(header::HOST, "127.0.0.1:9280")
            .header(header::AUTHORIZATION, bearer.as_str())
            .body(Body::empty())
            .expect("a request")
    };
    rt.block_on(async {
        let status = |r: &Router| r.clone().oneshot(request());
        ensure!(status(&guarded).await?.status() == StatusCode::OK);
        let wrong = Request::post("/api/v1/ingest")
            .header(header::HOST, "127.0.0.1:9280")
            .header(header::AUTHORIZATION, format!("Bearer {}", new_secret()))
            .body(Body::empty())?;
        ensure!(
            guarded.clone().oneshot(wrong).await?.status() == StatusCode::UNAUTHORIZED,
            "the guard let an unknown token through"
        );
        Ok(())
    })?;
    let run = |router: &Router| {
        runs(reps, requests, || {
            rt.block_on(async {
                for _ in 0..requests {
                    let r = router.clone().oneshot(request()).await;
                    black_box(r.map(|r| r.status()).ok());
                }
            })
        })
    };
    // Alternate to share out drift: guarded, bare, guarded, bare.
    let g1 = run(&guarded);
    let b1 = run(&bare);
    let g2 = run(&guarded);
    let b2 = run(&bare);
    let pick = |x: Timing, y: Timing| if x.median <= y.median { x } else { y };
    Ok((pick(g1, g2), pick(b1, b2)))
}
