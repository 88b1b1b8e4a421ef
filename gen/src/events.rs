//! Payload kinds: JSON app logs, nginx access lines, plain text, Java stack traces and
//! oversized lines, and their encoding into json-file records.

use serde::{Deserialize, Serialize};

use crate::format::{
    push_app_time, push_docker_escaped, push_hex, push_nginx_time, push_rfc3339_nanos, push_u64,
};
use crate::rng::{pick_cumulative, Rng};
use crate::words::{Slot, Templates, Vocab};
use crate::Stream;

/// dockerd splits a line into partial records at this many bytes.
pub(crate) const DOCKER_MAX_LINE: usize = 16 * 1024;

const LEVELS: [&str; 4] = ["info", "debug", "warn", "error"];
const LEVEL_CUM: [f64; 4] = [0.62, 0.80, 0.93, 1.0];

pub(crate) const SERVICES: [&str; 16] = [
    "api-gateway",
    "auth-service",
    "payments",
    "orders",
    "inventory",
    "search",
    "notifications",
    "billing",
    "user-profile",
    "shipping",
    "recommendations",
    "checkout",
    "catalog",
    "fraud-detector",
    "reporting",
    "scheduler",
];

const API_ROOTS: [&str; 18] = [
    "users",
    "orders",
    "payments",
    "items",
    "carts",
    "sessions",
    "accounts",
    "invoices",
    "products",
    "search",
    "shipments",
    "tokens",
    "reviews",
    "notifications",
    "reports",
    "webhooks",
    "tenants",
    "coupons",
];
const API_SUBS: [&str; 14] = [
    "",
    "",
    "",
    "/items",
    "/history",
    "/status",
    "/refund",
    "/settings",
    "/events",
    "/export",
    "/verify",
    "/cancel",
    "/preview",
    "/metrics",
];
const HTTP_METHODS: [&str; 10] = [
    "GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD",
];
/// Mostly 200s (the first 70 of 97 draws) with a realistic sprinkling of redirects,
/// client and server errors.
const HTTP_STATUS_COMMON: u64 = 70;
const HTTP_STATUS_RARE: [u16; 27] = [
    201, 201, 201, 201, 201, 201, 204, 204, 204, 204, 301, 302, 304, 304, 400, 401, 403, 404, 404,
    404, 409, 422, 429, 500, 502, 503, 504,
];
const REFERERS: [&str; 3] = [
    "-",
    "https://shop.example.com/",
    "https://app.example.com/dashboard",
];
const USER_AGENTS: [&str; 12] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Go-http-client/2.0",
    "kube-probe/1.31",
    "okhttp/4.12.0",
    "PostmanRuntime/7.42.0",
    "Prometheus/2.55.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];
const JAVA_PKGS: [&str; 11] = [
    "com.acme.payments",
    "com.acme.orders.core",
    "com.acme.inventory.store",
    "org.springframework.web.servlet",
    "org.hibernate.engine.jdbc",
    "io.netty.channel",
    "com.zaxxer.hikari.pool",
    "org.apache.kafka.clients",
    "com.fasterxml.jackson.databind",
    "java.util.concurrent",
    "org.postgresql.core",
];
const JAVA_EXC: [&str; 10] = [
    "java.lang.NullPointerException",
    "java.lang.IllegalStateException",
    "java.lang.IllegalArgumentException",
    "java.util.concurrent.TimeoutException",
    "java.io.IOException",
    "java.net.SocketTimeoutException",
    "org.postgresql.util.PSQLException",
    "java.sql.SQLTransientConnectionException",
    "com.fasterxml.jackson.core.JsonParseException",
    "org.apache.kafka.common.errors.TimeoutException",
];
const JAVA_KINDS: [&str; 5] = ["Service", "Controller", "Repository", "Handler", "Worker"];
const JAVA_SUFFIXES: [&str; 3] = ["", "Async", "Internal"];
const THREADS: [&str; 8] = [
    "main",
    "http-nio-8080-exec-1",
    "http-nio-8080-exec-7",
    "pool-2-thread-3",
    "kafka-consumer-1",
    "scheduling-1",
    "ForkJoinPool.commonPool-worker-5",
    "grpc-default-executor-2",
];
const PLAIN_LEVELS: [&str; 6] = ["INFO ", "INFO ", "INFO ", "WARN ", "DEBUG", "ERROR"];

/// Event-type weights tuned so *records* come out ~60/30/10: a stack trace is one event but
/// about 14 records, so plain events are drawn less often than their record share.
const EVENT_CUM: [f64; 3] = [0.6, 0.9, 0.9 + 0.1 / 1.75];

/// How many events of each kind were generated (an event may span several records).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounts {
    /// JSON application log lines.
    pub json: u64,
    /// nginx combined access-log lines.
    pub nginx: u64,
    /// Single-line plain-text logs.
    pub plain: u64,
    /// Multi-line Java stack traces (one record per line).
    pub stack: u64,
    /// Lines longer than 16 KiB, written as several partial records.
    pub long: u64,
}

/// One payload line before json-file encoding.
pub(crate) struct Payload {
    pub(crate) text: String,
    pub(crate) stream: Stream,
    /// Needle occurrences inside `text`.
    pub(crate) needles: u32,
}

/// Everything that varies inside one event; owns the RNG the payloads are drawn from.
pub(crate) struct EventSource {
    pub(crate) rng: Rng,
    vocab: Vocab,
    templates: Templates,
    needle: String,
    needle_prob: f64,
    partial_prob: f64,
    pub(crate) counts: EventCounts,
}

fn short_exception(fqcn: &str) -> &str {
    fqcn.rsplit('.').next().unwrap_or(fqcn)
}

/// A private-network client address, as seen behind a load balancer.
fn push_ip(rng: &mut Rng, out: &mut String) {
    out.push_str("10.");
    push_u64(out, rng.range(0, 255));
    out.push('.');
    push_u64(out, rng.range(0, 255));
    out.push('.');
    push_u64(out, rng.range(1, 254));
}

fn push_capitalized(out: &mut String, w: &str) {
    let mut cs = w.chars();
    if let Some(c) = cs.next() {
        out.extend(c.to_uppercase());
        out.push_str(cs.as_str());
    }
}

impl EventSource {
    pub(crate) fn new(
        seed: u64,
        vocab_size: usize,
        needle: &str,
        needle_prob: f64,
        partial_prob: f64,
    ) -> Self {
        Self {
            rng: Rng::new(seed),
            vocab: Vocab::new(&mut Rng::new(seed ^ 0x5EED), vocab_size, needle),
            templates: Templates::new(&mut Rng::new(seed ^ 0x7E57)),
            needle: needle.to_owned(),
            needle_prob,
            partial_prob,
            counts: EventCounts::default(),
        }
    }

    /// Appends one event's payload lines (one, or many for a stack trace) to `out`.
    pub(crate) fn event(&mut self, service: &str, ts_ns: i64, out: &mut Vec<Payload>) {
        if self.partial_prob > 0.0 && self.rng.chance(self.partial_prob) {
            self.long_line(service, out);
            return;
        }
        match pick_cumulative(&EVENT_CUM, self.rng.f64() * EVENT_CUM[2]) {
            0 => self.json_app(service, out),
            1 => self.nginx(ts_ns, out),
            _ => self.plain(service, ts_ns, out),
        }
    }

    fn hex_id(&mut self, out: &mut String, digits: u32) {
        let mut left = digits;
        while left > 0 {
            let d = left.min(16);
            push_hex(out, self.rng.next_u64(), d);
            left -= d;
        }
    }

    fn api_path(&mut self, out: &mut String) {
        out.push_str("/api/");
        out.push_str(if self.rng.chance(0.3) { "v2/" } else { "v1/" });
        out.push_str(self.rng.pick_str(&API_ROOTS));
        if self.rng.chance(0.6) {
            out.push('/');
            push_u64(out, self.rng.range(1, 99_999));
        }
        out.push_str(self.rng.pick_str(&API_SUBS));
    }

    /// Fills a popularity-weighted template; returns how many needles went in.
    fn message(&mut self, out: &mut String) -> u32 {
        let toks = self.templates.pick(&mut self.rng);
        let needle_at = if self.rng.chance(self.needle_prob) {
            Some(self.rng.range(0, toks.len() as u64) as usize)
        } else {
            None
        };
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !std::mem::take(&mut first) {
                out.push(' ');
            }
        };
        for i in 0..=toks.len() {
            if needle_at == Some(i) {
                sep(out);
                out.push_str(&self.needle);
            }
            let Some(tok) = toks.get(i) else { break };
            sep(out);
            out.push_str(tok.pre);
            match tok.slot {
                None => {}
                Some(Slot::Word) => out.push_str(self.vocab.pick(&mut self.rng)),
                Some(Slot::Num) => push_u64(out, self.rng.exp(300.0) as u64),
                Some(Slot::Id) => push_hex(out, self.rng.next_u64(), 12),
                Some(Slot::Ip) => push_ip(&mut self.rng, out),
            }
            out.push_str(tok.post);
        }
        u32::from(needle_at.is_some())
    }

    fn status(&mut self) -> u64 {
        let i = self
            .rng
            .below(HTTP_STATUS_COMMON + HTTP_STATUS_RARE.len() as u64);
        match i.checked_sub(HTTP_STATUS_COMMON) {
            None => 200,
            Some(k) => u64::from(HTTP_STATUS_RARE[k as usize]),
        }
    }

    // Messages, services and paths contain only [A-Za-z0-9 ./=_-] (the needle is validated
    // to match), so they are written into the app's JSON without escaping.
    fn json_app(&mut self, service: &str, out: &mut Vec<Payload>) {
        let mut s = String::with_capacity(320);
        let level = LEVELS[pick_cumulative(&LEVEL_CUM, self.rng.f64())];
        s.push_str("{\"level\":\"");
        s.push_str(level);
        s.push_str("\",\"service\":\"");
        s.push_str(service);
        s.push_str("\",\"msg\":\"");
        let mut needles = self.message(&mut s);
        s.push_str("\",\"user_id\":");
        push_u64(&mut s, self.rng.range(1, 2_000_000));
        s.push_str(",\"latency_ms\":");
        push_u64(&mut s, self.rng.lognormal(3.0, 1.1) as u64);
        s.push_str(",\"path\":\"");
        self.api_path(&mut s);
        s.push_str("\",\"method\":\"");
        s.push_str(self.rng.pick_str(&HTTP_METHODS));
        s.push_str("\",\"status\":");
        let status = self.status();
        push_u64(&mut s, status);
        s.push_str(",\"trace_id\":\"");
        self.hex_id(&mut s, 32);
        s.push('"');
        if level == "error" {
            s.push_str(",\"error\":\"");
            s.push_str(short_exception(self.rng.pick_str(&JAVA_EXC)));
            s.push_str(": ");
            needles += self.message(&mut s);
            s.push('"');
        }
        s.push('}');
        self.counts.json += 1;
        let stream = if (level == "error" || level == "warn") && self.rng.chance(0.7) {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        out.push(Payload {
            text: s,
            stream,
            needles,
        });
    }

    fn nginx(&mut self, ts_ns: i64, out: &mut Vec<Payload>) {
        let mut s = String::with_capacity(320);
        push_ip(&mut self.rng, &mut s);
        s.push_str(" - - [");
        push_nginx_time(&mut s, ts_ns);
        s.push_str("] \"");
        s.push_str(self.rng.pick_str(&HTTP_METHODS));
        s.push(' ');
        self.api_path(&mut s);
        if self.rng.chance(0.4) {
            s.push_str("?q=");
            s.push_str(self.vocab.pick(&mut self.rng));
            s.push_str("&page=");
            push_u64(&mut s, self.rng.range(1, 40));
        }
        s.push_str(" HTTP/1.1\" ");
        let status = self.status();
        push_u64(&mut s, status);
        s.push(' ');
        push_u64(&mut s, self.rng.lognormal(7.0, 1.5) as u64);
        s.push_str(" \"");
        s.push_str(self.rng.pick_str(&REFERERS));
        s.push_str("\" \"");
        s.push_str(self.rng.pick_str(&USER_AGENTS));
        let rt = self.rng.lognormal(-4.0, 1.2);
        // Integer rounding keeps the text identical on every platform, unlike float fmt
        // corner cases; rt is tiny so the product never overflows.
        let ms = (rt * 1000.0).round() as u64;
        s.push_str("\" rt=");
        push_u64(&mut s, ms / 1000);
        s.push('.');
        let frac = ms % 1000;
        s.push((b'0' + (frac / 100) as u8) as char);
        s.push((b'0' + (frac / 10 % 10) as u8) as char);
        s.push((b'0' + (frac % 10) as u8) as char);
        s.push_str(" uct=\"0.000\" req_id=");
        self.hex_id(&mut s, 16);
        self.counts.nginx += 1;
        out.push(Payload {
            text: s,
            stream: Stream::Stdout,
            needles: 0,
        });
    }

    fn plain(&mut self, service: &str, ts_ns: i64, out: &mut Vec<Payload>) {
        let mut s = String::with_capacity(160);
        push_app_time(&mut s, ts_ns);
        if self.rng.chance(0.05) {
            self.stack_trace(s, out);
            return;
        }
        let level = self.rng.pick_str(&PLAIN_LEVELS);
        s.push(' ');
        s.push_str(level);
        s.push_str(" [");
        s.push_str(service);
        s.push_str("] ");
        let needles = self.message(&mut s);
        self.counts.plain += 1;
        let stream = if level.starts_with("WARN") || level.starts_with("ERROR") {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        out.push(Payload {
            text: s,
            stream,
            needles,
        });
    }

    /// A Spring Boot style error followed by its stack trace, one payload per line as the
    /// json-file driver stores them, so the collector's multiline merge has work to do.
    fn stack_trace(&mut self, mut head: String, out: &mut Vec<Payload>) {
        let pkg = self.rng.pick_str(&JAVA_PKGS);
        let exc = self.rng.pick_str(&JAVA_EXC);
        head.push_str(" ERROR 1 --- [");
        head.push_str(self.rng.pick_str(&THREADS));
        head.push_str("] ");
        head.push_str(pkg);
        head.push('.');
        head.push_str(self.rng.pick_str(&JAVA_KINDS));
        push_capitalized(&mut head, self.vocab.pick(&mut self.rng));
        head.push_str(" : ");
        let needles = self.message(&mut head);
        out.push(Payload {
            text: head,
            stream: Stream::Stderr,
            needles,
        });

        let mut line = String::with_capacity(120);
        line.push_str(exc);
        line.push_str(": ");
        let needles = self.message(&mut line);
        out.push(Payload {
            text: line,
            stream: Stream::Stderr,
            needles,
        });

        let frames = self.rng.range(6, 18);
        for k in 0..frames {
            if k == frames / 2 && self.rng.chance(0.5) {
                let mut cause = String::from("Caused by: ");
                cause.push_str(self.rng.pick_str(&JAVA_EXC));
                cause.push_str(": ");
                let needles = self.message(&mut cause);
                out.push(Payload {
                    text: cause,
                    stream: Stream::Stderr,
                    needles,
                });
            }
            let p = self.rng.pick_str(&JAVA_PKGS);
            let m = self.vocab.pick(&mut self.rng);
            let mut f = String::with_capacity(96);
            f.push_str("\tat ");
            f.push_str(p);
            f.push('.');
            push_capitalized(&mut f, m);
            f.push_str("Impl.");
            f.push_str(m);
            f.push_str(self.rng.pick_str(&JAVA_SUFFIXES));
            f.push('(');
            push_capitalized(&mut f, m);
            f.push_str("Impl.java:");
            push_u64(&mut f, self.rng.range(20, 900));
            f.push(')');
            out.push(Payload {
                text: f,
                stream: Stream::Stderr,
                needles: 0,
            });
        }
        let mut tail = String::from("\t... ");
        push_u64(&mut tail, self.rng.range(10, 80));
        tail.push_str(" common frames omitted");
        out.push(Payload {
            text: tail,
            stream: Stream::Stderr,
            needles: 0,
        });
        self.counts.stack += 1;
    }

    fn long_line(&mut self, service: &str, out: &mut Vec<Payload>) {
        let n = self
            .rng
            .range(DOCKER_MAX_LINE as u64 + 100, 3 * DOCKER_MAX_LINE as u64)
            as usize;
        let mut s = String::with_capacity(n + 64);
        s.push('[');
        s.push_str(service);
        s.push_str("] large payload dump:");
        let mut size = 0;
        while size < n {
            let w = self.vocab.pick(&mut self.rng);
            s.push(' ');
            s.push_str(w);
            size += w.len() + 1;
        }
        self.counts.long += 1;
        out.push(Payload {
            text: s,
            stream: Stream::Stdout,
            needles: 0,
        });
    }
}

/// Encodes one payload as json-file records, calling `emit(record, is_last)` for each:
/// one record ending in `\n`, or, from 16 KiB on, 16 KiB partial records of which only the
/// last carries the `\n` (what dockerd does with long lines).
pub(crate) fn encode_records(
    payload: &str,
    stream: Stream,
    ts_ns: i64,
    mut emit: impl FnMut(String, bool),
) {
    let mut time = String::with_capacity(32);
    push_rfc3339_nanos(&mut time, ts_ns);
    let one = |chunk: &str, newline: bool| {
        let mut rec = String::with_capacity(chunk.len() + chunk.len() / 8 + 80);
        rec.push_str("{\"log\":\"");
        push_docker_escaped(&mut rec, chunk);
        if newline {
            rec.push_str("\\n");
        }
        rec.push_str("\",\"stream\":\"");
        rec.push_str(stream.as_str());
        rec.push_str("\",\"time\":\"");
        rec.push_str(&time);
        rec.push_str("\"}");
        rec
    };
    if payload.len() < DOCKER_MAX_LINE {
        emit(one(payload, true), true);
        return;
    }
    let mut rest = payload;
    while !rest.is_empty() {
        let mut cut = rest.len().min(DOCKER_MAX_LINE);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (chunk, tail) = rest.split_at(cut);
        rest = tail;
        emit(one(chunk, rest.is_empty()), rest.is_empty());
    }
}
