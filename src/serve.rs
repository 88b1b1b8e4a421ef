//! `skein server` / `skein up`: opens the engine and serves the router until a signal.

use anyhow::{Context, Result};
use skein_indexer::{Engine, EngineConfig};
use skein_web::auth::{Auth, AuthConfig, Keyring, Scopes, TokenFile};
use skein_web::{AppState, Limits};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `skein server`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Where the WAL, the partitions and the checkpoint live.
    #[arg(long, env = "SKEIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address of the API, the ES-compatible API and the dashboard.
    #[arg(long, env = "SKEIN_LISTEN", default_value = "127.0.0.1:9280")]
    pub listen: SocketAddr,
    /// Also serve the Elasticsearch-compatible API at the root of this address (e.g.
    /// 127.0.0.1:9200), for shippers that cannot add the `/es` prefix; same auth, TLS
    /// and limits. Off by default.
    #[arg(long, env = "SKEIN_ES_LISTEN")]
    pub es_listen: Option<SocketAddr>,
    /// Also serve OTLP/gRPC logs (`LogsService/Export`) on this address (by convention
    /// 0.0.0.0:4317); same auth (the `ingest` scope), TLS and limits as `POST /v1/logs`.
    /// Off by default.
    #[arg(long, env = "SKEIN_OTLP_GRPC_LISTEN")]
    pub otlp_grpc_listen: Option<SocketAddr>,
    /// How often new records are committed to the index (they are searchable after).
    #[arg(long, default_value_t = 1000)]
    pub commit_interval_ms: u64,
    /// Largest accepted request body, in bytes, as sent.
    #[arg(long, default_value_t = 32 << 20)]
    pub max_body_bytes: usize,
    /// Memory, in bytes, that records accepted but not yet indexed may hold (parsed
    /// records take three to six times their JSON text) before ingest answers 429.
    #[arg(long, default_value_t = 256 << 20)]
    pub inflight_bytes: usize,
    /// How long a request waits for room in `--inflight-bytes` before it is answered
    /// 429 (0: answer at once).
    #[arg(long, default_value_t = 1000)]
    pub inflight_wait_ms: u64,
    /// Matching records a live follower may have queued before it is resynchronised
    /// from the index.
    #[arg(long, default_value_t = 10_000)]
    pub follow_queue: usize,
    /// Largest body, in bytes, of every request but ingest and `/es/_bulk` (searches,
    /// aggregations, dashboards, `/es` reads); over it, 413.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_request_bytes: usize,
    /// Deepest nesting of `(` groups and `NOT`s in a query (at most 1,000); deeper is a
    /// 400.
    #[arg(long, default_value_t = skein_query::lang::parser::DEFAULT_MAX_DEPTH)]
    pub max_query_depth: usize,
    /// Partition writers (one per day written to) open at once; past it the least
    /// recently written is committed and closed, so a backfill spanning years holds no
    /// more memory and threads than this many.
    #[arg(long, default_value_t = 8)]
    pub max_open_partitions: usize,
    /// Time limit, in seconds, of a search or aggregation that names no `timeout` of
    /// its own (0: none); past it the answer holds what was found and says
    /// `"timed_out":true`.
    #[arg(long, default_value_t = 30.0)]
    pub query_timeout: f64,
    /// Distinct `fields`/`labels` paths of one record that become columns; the rest
    /// stay in the stored record (returned with hits) without a column.
    #[arg(long, default_value_t = 1_000)]
    pub max_fields_per_record: usize,
    /// Distinct `fields`/`labels` paths of one day's partition that become columns
    /// (Elasticsearch's `total_fields.limit`); past it new paths get none, with a
    /// warning on /healthz.
    #[arg(long, default_value_t = 10_000)]
    pub max_fields_per_partition: usize,
    /// Largest answer one aggregation may have, in buckets plus metric values, estimated
    /// before it runs (Elasticsearch's `search.max_buckets`); over it, a 400.
    #[arg(long, default_value_t = skein_query::aggregate::limits::DEFAULT_MAX_BUCKETS)]
    pub max_buckets: u64,
    /// Memory, in bytes, one aggregation may take per partition while it runs; over it,
    /// the aggregation stops with a 400.
    #[arg(long, default_value_t = skein_query::aggregate::limits::DEFAULT_MAX_MEMORY_BYTES)]
    pub agg_memory_bytes: u64,
    /// Searches one `/es/_msearch` request may hold; over it, a 400.
    #[arg(long, default_value_t = skein_web::DEFAULT_MAX_MSEARCH)]
    pub max_msearch: usize,
    /// Scrolls and points in time of the `/es` API open at once (each pins the index as
    /// it was when it opened); over it, a 429 naming the limit.
    #[arg(long, default_value_t = skein_web::es::scroll::DEFAULT_MAX_OPEN)]
    pub max_open_scrolls: usize,
    /// Drop partitions (whole days) older than this, e.g. 30d; ingest refuses older
    /// records. Kept forever by default.
    #[arg(long, value_name = "AGE")]
    pub retention: Option<String>,
    /// Milliseconds a partition may receive nothing before its writer is closed (its
    /// memory given back) and, if its day is over, it is compacted into one segment.
    #[arg(long, default_value_t = 30_000)]
    pub retire_after_ms: u64,
    /// Keep the records a query matches for another time than --retention:
    /// `--retain 'level:debug=3d' --retain 'container:audit-*=365d'` (first match
    /// wins). Applied by UTC day, like --retention. Repeatable.
    #[arg(long = "retain", value_name = "QUERY=AGE")]
    pub retain: Vec<String>,
    /// Disk the partitions and the WAL may take, e.g. 50GB; past it the oldest
    /// partitions are dropped (never the newest, never the WAL), with a warning.
    #[arg(long, value_name = "SIZE")]
    pub max_disk: Option<String>,
    /// Replace secrets in what every ingest route receives, before it is stored
    /// (repeatable): a built-in (bearer, url-password, card, email) or
    /// NAME=REGEX[=REPLACEMENT], as `skein agent --redact`.
    ///
    /// For shippers that are not skein agents: applies to /api/v1/ingest (the message
    /// and the string values of fields) and /es/_bulk (every string value of the
    /// document but its time). Built-ins, turned on by name: `bearer`, `url-password`,
    /// `card` (Luhn-checked), `email`. A rule of your own is NAME=REGEX or
    /// NAME=REGEX=REPLACEMENT: the name ends at the first `=`, the regex at the next `=`
    /// that is not written `\=` (so write every `=` inside the regex as `\=`), and the
    /// rest is the replacement (default `[REDACTED:NAME]`; `$1`, `${group}` insert a
    /// group, `$$` is a `$`). Counted per rule as skein_redactions_total{rule}. In
    /// SKEIN_REDACT, one rule per line.
    #[arg(
        long = "redact",
        value_name = "RULE",
        env = "SKEIN_REDACT",
        value_delimiter = '\n'
    )]
    pub redact: Vec<String>,
    /// Do not give records a `pattern` (their message's template) at ingest: saves the
    /// mining's CPU; /api/v1/patterns then finds none for what arrives meanwhile.
    #[arg(long)]
    pub no_patterns: bool,
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// Authentication and TLS options of `skein server`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SecurityArgs {
    /// Turn authentication off whatever tokens exist (said in the log at every start).
    /// Anyone who can reach the port can then read and write every record.
    #[arg(long)]
    pub insecure: bool,
    /// Also accept the token held in PATH, with these scopes (`ingest:/run/secrets/t`,
    /// `ingest,query:/path`), as Docker and Kubernetes mount secrets. Repeatable.
    #[arg(long = "accept-token-file", value_name = "SCOPES:PATH")]
    pub accept_token_files: Vec<String>,
    /// Host names requests without a token may use (comma-separated, repeatable; `*`
    /// for any), besides localhost, this machine's name and IP addresses: add the
    /// names of a compose service or Kubernetes Service here.
    #[arg(long = "allowed-hosts", value_delimiter = ',', value_name = "NAMES")]
    pub allowed_hosts: Vec<String>,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, requires = "tls_key", conflicts_with = "tls_self_signed")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate made at first start under a CA of its own (kept in
    /// DATA/tls/); prints the CA's fingerprint for clients' --ca-fingerprint.
    #[arg(long)]
    pub tls_self_signed: bool,
    /// Hours a dashboard login lasts.
    #[arg(long, default_value_t = 12.0)]
    pub session_hours: f64,
    /// Origin whose pages may call the API from a browser with a token (CORS), e.g.
    /// `https://grafana.example`; repeatable. None by default.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Failed authentication attempts one client address may make per minute; past
    /// it, that address is answered 429 until the minute ends.
    #[arg(long, default_value_t = skein_web::auth::DEFAULT_FAILURES_PER_MINUTE)]
    pub auth_failures_per_minute: u32,
}

impl ServerArgs {
    /// Defaults for `skein up`.
    pub fn with_defaults(data_dir: PathBuf, listen: SocketAddr) -> ServerArgs {
        ServerArgs {
            data_dir,
            listen,
            es_listen: None,
            otlp_grpc_listen: None,
            commit_interval_ms: 1000,
            max_body_bytes: 32 << 20,
            inflight_bytes: 256 << 20,
            inflight_wait_ms: 1000,
            follow_queue: 10_000,
            max_request_bytes: 1 << 20,
            max_query_depth: skein_query::lang::parser::DEFAULT_MAX_DEPTH,
            max_open_partitions: 8,
            query_timeout: 30.0,
            max_fields_per_record: 1_000,
            max_fields_per_partition: 10_000,
            max_buckets: skein_query::aggregate::limits::DEFAULT_MAX_BUCKETS,
            agg_memory_bytes: skein_query::aggregate::limits::DEFAULT_MAX_MEMORY_BYTES,
            max_msearch: skein_web::DEFAULT_MAX_MSEARCH,
            max_open_scrolls: skein_web::es::scroll::DEFAULT_MAX_OPEN,
            retention: None,
            retire_after_ms: 30_000,
            retain: Vec::new(),
            max_disk: None,
            redact: Vec::new(),
            no_patterns: false,
            security: SecurityArgs {
                session_hours: 12.0,
                auth_failures_per_minute: skein_web::auth::DEFAULT_FAILURES_PER_MINUTE,
                ..SecurityArgs::default()
            },
        }
    }
}

/// What `skein up` runs beside the server.
pub struct Up {
    /// The agent's collection options.
    pub collect: crate::agent::CollectArgs,
    /// Replay the demo samples.
    pub demo: bool,
}

/// mimalloc's `purge_delay` option (its index in `mi_option_t`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Lets mimalloc keep freed memory for 10 s before giving it back to the OS, unless
/// `MIMALLOC_PURGE_DELAY` says otherwise. Its default of 10 ms gives back what ingest
/// frees between two requests, and the next request then takes fresh pages the kernel
/// must zero: a tenth of the server's CPU under `/es/_bulk` load (BENCHMARKS.md).
fn keep_freed_memory_a_while() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is allowed at any time; the value is in ms.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
    }
}

/// Runs the server (and, for `skein up`, an agent shipping to it) until SIGINT or
/// SIGTERM.
pub fn run(args: ServerArgs, up: Option<Up>) -> Result<()> {
    let started = Instant::now();
    keep_freed_memory_a_while();
    let metrics = skein_web::ops::install_metrics();
    let mut config = EngineConfig::new(&args.data_dir);
    config.indexer.commit_interval = Duration::from_millis(args.commit_interval_ms.max(10));
    config.inflight_bytes = args.inflight_bytes;
    config.indexer.max_open_writers = args.max_open_partitions.max(1);
    config.indexer.max_fields_per_record = args.max_fields_per_record;
    config.indexer.max_fields_per_partition = args.max_fields_per_partition;
    config.indexer.retire_after = Duration::from_millis(args.retire_after_ms.max(10));
    config.indexer.retention = skein_indexer::retention::RetentionConfig {
        max_age: args
            .retention
            .as_deref()
            .map(crate::timearg::duration)
            .transpose()
            .context("--retention")?,
        max_disk: args
            .max_disk
            .as_deref()
            .map(parse_size)
            .transpose()
            .context("--max-disk")?,
        rules: args
            .retain
            .iter()
            .map(|r| retain_rule(r))
            .collect::<Result<_>>()?,
    };
    config.patterns = !args.no_patterns;
    if let Some(rules) = crate::agent::redactor(&args.redact)? {
        tracing::info!("ingest redacts {}", rules.rule_names().join(", "));
        config.redact = Some(Arc::new(rules));
    }
    skein_query::lang::parser::set_max_depth(args.max_query_depth);
    let engine = Arc::new(
        Engine::open(config)
            .with_context(|| format!("cannot open data directory {}", args.data_dir.display()))?,
    );
    let security = Security::set_up(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let state = AppState {
        engine: engine.clone(),
        metrics,
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            max_decoded_bytes: args.max_body_bytes.saturating_mul(4),
            max_request_bytes: args.max_request_bytes,
            query_timeout: (args.query_timeout > 0.0)
                .then(|| Duration::from_secs_f64(args.query_timeout)),
            inflight_wait: Duration::from_millis(args.inflight_wait_ms),
            agg: skein_query::AggLimits {
                max_buckets: args.max_buckets.max(1),
                max_memory_bytes: args.agg_memory_bytes,
                worst_case: true,
            },
            max_msearch: args.max_msearch.max(1),
            msearch_concurrency: skein_web::default_msearch_concurrency(),
        },
        dashboards: Arc::new(skein_web::dashboards::Store::open(
            args.data_dir.join("dashboards"),
        )?),
        auth: security.auth.clone(),
        es_contexts: skein_web::es::scroll::Contexts::new(args.max_open_scrolls),
        follow: skein_query::follow::Hub::start(
            &engine,
            skein_query::follow::HubLimits {
                records: args.follow_queue.max(1),
                ..Default::default()
            },
        )
        .context("cannot start the live-follow thread")?,
    };
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}; is another skein running? pick another with --listen",
                    args.listen
                )
            })?;
        let addr = listener.local_addr()?;
        let scheme = if security.tls.is_some() {
            "https"
        } else {
            "http"
        };
        tracing::info!(
            "listening on {scheme}://{addr} (data in {}, ready in {} ms)",
            args.data_dir.display(),
            started.elapsed().as_millis()
        );
        let es_listener = match args.es_listen {
            Some(es) => {
                let l = tokio::net::TcpListener::bind(es).await.with_context(|| {
                    format!("cannot listen on {es} (--es-listen); is something else on it?")
                })?;
                tracing::info!(
                    "Elasticsearch-compatible API also on {scheme}://{}/",
                    l.local_addr()?
                );
                Some(l)
            }
            None => None,
        };
        let grpc_listener = match args.otlp_grpc_listen {
            Some(at) => {
                let l = tokio::net::TcpListener::bind(at).await.with_context(|| {
                    format!("cannot listen on {at} (--otlp-grpc-listen); is something else on it?")
                })?;
                tracing::info!("OTLP/gRPC logs on {}", l.local_addr()?);
                Some(l)
            }
            None => None,
        };
        security.announce(addr);
        tokio::spawn(security.auth.clone().maintain());
        let companions = match up {
            Some(up) => {
                let token = security
                    .auth
                    .keyring
                    .add_internal("skein-up-agent", Scopes::parse("ingest").expect("a scope"));
                Some(start_companions(up, &args.data_dir, addr, token)?)
            }
            None => None,
        };
        // The agent stops first, while the server still takes its last batches.
        let follow = state.follow.clone();
        let shutdown = async move {
            shutdown_signal().await;
            // Live tails never end by themselves; graceful shutdown waits for them.
            follow.close();
            if let Some((agent, demo)) = companions {
                let _ = tokio::task::spawn_blocking(move || {
                    if let Some(d) = demo {
                        d.stop();
                    }
                    agent.stop();
                })
                .await;
            }
        };
        // The ES port stops with the main one.
        let (stopped, stop_es) = tokio::sync::watch::channel(false);
        let stop_grpc = stop_es.clone();
        let shutdown = async move {
            shutdown.await;
            let _ = stopped.send(true);
        };
        let es_server = es_listener.map(|listener| {
            let app = skein_web::es_root_router(state.clone());
            serve_extra(listener, app, security.tls.clone(), stop_es, "--es-listen")
        });
        let grpc_server = grpc_listener.map(|listener| {
            let app = skein_web::otlp_grpc_router(state.clone());
            serve_extra(
                listener,
                app,
                security.tls.clone(),
                stop_grpc,
                "--otlp-grpc-listen",
            )
        });
        // The client's address is what failed logins are counted by.
        let app = skein_web::router(state)
            .into_make_service_with_connect_info::<skein_web::auth::ClientAddr>();
        match security.tls {
            Some(config) => axum::serve(skein_web::tls::TlsListener::new(listener, config)?, app)
                .with_graceful_shutdown(shutdown)
                .await
                .context("server failed"),
            None => axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .context("server failed"),
        }?;
        if let Some(es) = es_server {
            es.await.context("the --es-listen server panicked")??;
        }
        if let Some(grpc) = grpc_server {
            grpc.await
                .context("the --otlp-grpc-listen server panicked")??;
        }
        anyhow::Ok(())
    })?;
    tracing::info!("shutting down: committing what was accepted");
    engine.shutdown();
    Ok(())
}

/// Serves `app` on a port beside the main one (`--es-listen`, `--otlp-grpc-listen`),
/// with the main port's TLS, until `stop` turns true.
fn serve_extra(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<rustls::ServerConfig>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    flag: &'static str,
) -> tokio::task::JoinHandle<Result<()>> {
    // The client's address is what failed logins are counted by.
    let app = app.into_make_service_with_connect_info::<skein_web::auth::ClientAddr>();
    let stop = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::spawn(async move {
        let served = match tls {
            Some(config) => {
                axum::serve(skein_web::tls::TlsListener::new(listener, config)?, app)
                    .with_graceful_shutdown(stop)
                    .await
            }
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
            }
        };
        served.with_context(|| format!("the {flag} server failed"))
    })
}

fn start_companions(
    up: Up,
    data_dir: &std::path::Path,
    addr: SocketAddr,
    token: String,
) -> Result<(skein_collector::agent::Agent, Option<crate::demo::Demo>)> {
    let mut config = up
        .collect
        .config(format!("http://{addr}"), data_dir.join("agent"))?;
    // Its own credentials, never printed: creating tokens must not cut it off.
    config.connect.token = Some(token);
    let (demo, extra) = if up.demo {
        let (demo, specs) = crate::demo::Demo::start(&data_dir.join("demo"), &config.host)?;
        tracing::info!("demo: replaying {} sample containers", specs.len());
        (Some(demo), specs)
    } else {
        (None, Vec::new())
    };
    skein_collector::agent::describe_metrics();
    let agent = crate::agent::start(config, extra)?;
    Ok((agent, demo))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// The server's auth and TLS, set up before it listens.
struct Security {
    auth: Arc<Auth>,
    tls: Option<rustls::ServerConfig>,
    /// What to tell the operator once listening.
    notes: Vec<String>,
    insecure: bool,
}

impl Security {
    fn set_up(args: &ServerArgs) -> Result<Security> {
        let sec = &args.security;
        let mut accepted = Vec::new();
        for spec in &sec.accept_token_files {
            let (scopes, path) = spec.split_once(':').with_context(|| {
                format!("--accept-token-file {spec:?}: write SCOPES:PATH, e.g. ingest:/run/secrets/skein")
            })?;
            let scopes = Scopes::parse(scopes)
                .map_err(|e| anyhow::anyhow!("--accept-token-file {spec:?}: {e}"))?;
            accepted.push((scopes, PathBuf::from(path)));
        }
        let keyring = Keyring::open(&args.data_dir, accepted)?;
        let loopback =
            args.listen.ip().is_loopback() && args.es_listen.is_none_or(|es| es.ip().is_loopback());
        let mut notes = Vec::new();
        if !sec.insecure && !loopback && !keyring.any() {
            let path = first_admin_token(&args.data_dir)?;
            keyring.reload()?;
            notes.push(format!(
                "no token existed, so an admin token was made and written to {} (mode 0600; \
                it is shown nowhere else): log in to the dashboard with it, and make tokens \
                for agents and users with `skein token create`",
                path.display()
            ));
        }
        let names = host_names(args.listen, args.es_listen, &sec.allowed_hosts);
        let tls = if sec.tls_self_signed {
            let made = skein_web::tls::self_signed(&args.data_dir, &names)?;
            notes.push(format!(
                "TLS with a self-signed certificate{}; clients trust it with --ca-cert {} or \
                --ca-fingerprint {}",
                if made.created { " made just now" } else { "" },
                made.ca_path.display(),
                made.fingerprint
            ));
            Some(made.config)
        } else if let (Some(cert), Some(key)) = (&sec.tls_cert, &sec.tls_key) {
            Some(skein_web::tls::from_files(cert, key)?)
        } else {
            None
        };
        let mut allowed: Vec<String> = names
            .into_iter()
            .filter(|n| n.parse::<std::net::IpAddr>().is_err())
            .collect();
        allowed.extend(
            sec.allowed_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase()),
        );
        let config = AuthConfig {
            insecure: sec.insecure,
            always_on: !loopback,
            allowed_hosts: allowed,
            tls: tls.is_some(),
            session_ttl: Duration::from_secs_f64(sec.session_hours.max(0.01) * 3600.0),
            max_failures_per_minute: sec.auth_failures_per_minute.max(1),
            cors_origins: sec
                .cors_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
        };
        Ok(Security {
            auth: Arc::new(Auth::new(config, keyring)),
            tls,
            notes,
            insecure: sec.insecure,
        })
    }

    /// Says, at every start, whether requests must authenticate.
    fn announce(&self, addr: SocketAddr) {
        for n in &self.notes {
            tracing::info!("{n}");
        }
        let file = self.auth.keyring.file().path();
        if self.insecure {
            tracing::warn!(
                "auth is OFF (--insecure): anyone who can reach {addr} can read and write \
                every record"
            );
        } else if self.auth.enabled() {
            tracing::info!(
                "auth is on: every route but /healthz and the dashboard's page needs a token"
            );
        } else {
            tracing::info!(
                "auth is off: listening on loopback only and no token in {}; it turns on as \
                soon as one is made with `skein token create`",
                file.display()
            );
        }
    }
}

/// Makes the first admin token and writes its secret to `DATA/auth/admin.token` (0600).
fn first_admin_token(data_dir: &std::path::Path) -> Result<PathBuf> {
    let file = TokenFile::new(data_dir);
    let (_, secret) = file.create(Some("admin"), Scopes::ALL, None)?;
    let path = data_dir.join("auth").join("admin.token");
    skein_model::atomic_file::write_atomic(&path, format!("{secret}\n").as_bytes(), Some(0o600))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The names this server is reached by: localhost, this machine's name, the listen
/// address, and those given with --allowed-hosts (except `*`).
fn host_names(listen: SocketAddr, es_listen: Option<SocketAddr>, extra: &[String]) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim().to_ascii_lowercase();
        if !h.is_empty() {
            names.push(h);
        }
    }
    for addr in std::iter::once(listen).chain(es_listen) {
        if !addr.ip().is_unspecified() {
            names.push(addr.ip().to_string());
        }
    }
    for e in extra {
        let e = e.trim().to_ascii_lowercase();
        if !e.is_empty() && e != "*" {
            names.push(e);
        }
    }
    names.sort();
    names.dedup();
    names
}

/// A size such as `50GB`, `500MiB` or `1.5TB` (decimal units, binary with `i`; a bare
/// number is bytes).
fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        anyhow::anyhow!("cannot understand size {text:?}; write e.g. 50GB or 500MB")
    })?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        u => {
            anyhow::bail!("unknown size unit {u:?} in {text:?}; use B, KB, MB, GB, TB (or KiB…TiB)")
        }
    };
    Ok((n * scale) as u64)
}

/// A `--retain QUERY=AGE` rule, its query compiled.
fn retain_rule(text: &str) -> Result<skein_indexer::retention::RetainRule> {
    let (q, age) = text
        .rsplit_once('=')
        .with_context(|| format!("--retain {text:?}: write QUERY=AGE, e.g. 'level:debug=3d'"))?;
    let age = crate::timearg::duration(age).with_context(|| format!("--retain {text:?}"))?;
    let schema = skein_indexer::schema::build_schema().0;
    let query = skein_query::parse::parse_query_at(&schema, q, skein_model::Timestamp::now())
        .map_err(|e| anyhow::anyhow!("--retain {text:?}: the query {}", e.reason))?;
    Ok(skein_indexer::retention::RetainRule {
        text: text.to_string(),
        age,
        query: std::sync::Arc::from(query),
    })
}
