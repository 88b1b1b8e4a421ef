//! One followed source: its file tail, decoder and encoder, and what it has shipped.
//!
//! A source reads whatever its file has, turns it into NDJSON records straight into the
//! caller's batch, and can say at any moment where a restart must resume
//! ([`Source::state`]): at the oldest line a merger still holds, with the last shipped
//! position per stream so that lines re-read after that point are not sent twice.

use crate::checkpoint::SourceState;
use crate::decode::{Event, Format, SourceDecoder};
use crate::discover::SourceSpec;
use crate::encode::{BatchWriter, RecordEncoder};
use crate::parse::multiline::MultilineConfig;
use crate::parse::payload::PayloadConfig;
use crate::redact::Redaction;
use crate::tail::{Catcher, FileId, FileTail, Layout, Loss, LossKind, TailPosition};
use crate::wake::DirWatcher;
use skein_model::Timestamp;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// How sources read and parse.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Most bytes kept of one line (`--max-line-bytes`): a longer line, whether written
    /// whole or split by the runtime, becomes one record of its first bytes marked
    /// with its original length in [`TRUNCATED_FIELD`](crate::decode::TRUNCATED_FIELD).
    pub max_line_bytes: usize,
    /// Payload parsing of container logs.
    pub payload: PayloadConfig,
    /// Multiline grouping, off by default.
    pub multiline: Option<MultilineConfig>,
    /// `--redact` rules applied to every event before it is encoded; none by default.
    pub redact: Option<Arc<Redaction>>,
}

/// What one [`Source::pump`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pumped {
    /// Bytes read from the file.
    pub bytes: usize,
    /// On-disk lines read.
    pub lines: u64,
    /// Records written to the batch.
    pub records: u64,
    /// The earliest time a runtime stamped on those records (json-file and CRI lines
    /// carry the time they were written; plain lines only their read time, so `None`):
    /// how long the oldest line waited before the agent read it.
    pub oldest: Option<Timestamp>,
}

/// Buffers one reader lends to all its sources, so memory does not grow with the
/// number of files followed.
#[derive(Debug, Default)]
pub struct Scratch {
    buf: Vec<u8>,
    events: Vec<Event>,
}

/// A followed source (see the module docs).
pub struct Source {
    spec: SourceSpec,
    dir: PathBuf,
    tail: FileTail,
    decoder: SourceDecoder,
    encoder: RecordEncoder,
    redact: Option<Arc<Redaction>>,
    attrs_generation: u64,
    shipped: [Option<u64>; 3],
    drained_since: Option<Instant>,
}

impl Source {
    /// Starts following `spec`, from `state` when the source was followed before. New
    /// files are looked for when the source is pumped; see
    /// [`open_watched`](Self::open_watched) for the agent's way.
    pub fn open(
        spec: SourceSpec,
        state: Option<&SourceState>,
        options: &ReadOptions,
    ) -> io::Result<Source> {
        let catcher = Catcher::new(spec.path.clone(), layout_of(&spec));
        Source::open_caught(spec, state, options, catcher)
    }

    /// [`open`](Self::open), with the file's directory watched by `watcher`, which also
    /// opens the files rotated in at the path the moment they arrive. Call
    /// `watcher.unfollow(source.catcher())` when the source is dropped.
    pub fn open_watched(
        spec: SourceSpec,
        state: Option<&SourceState>,
        options: &ReadOptions,
        watcher: &mut DirWatcher,
    ) -> io::Result<Source> {
        let catcher = Catcher::new(spec.path.clone(), layout_of(&spec));
        // Following first: a file arriving while the tail starts is caught or counted.
        watcher.follow(&catcher);
        Source::open_caught(spec, state, options, catcher.clone()).inspect_err(|_| {
            watcher.unfollow(&catcher);
        })
    }

    fn open_caught(
        spec: SourceSpec,
        state: Option<&SourceState>,
        options: &ReadOptions,
        catcher: Catcher,
    ) -> io::Result<Source> {
        let start = state.map(|s| match &s.position {
            Some(p) => p.clone(),
            // The file was finished once and is back: carry on above its old end.
            None => TailPosition {
                file: FileId::none(),
                offset: 0,
                base: s.end,
            },
        });
        // The tail's cap bounds the memory one line can take while it is read; the
        // decoder keeps `max_line_bytes` of it. A json-file or CRI entry carries its
        // line in framing, so the tail cuts no later than the decoder.
        let tail_cap = crate::tail::DEFAULT_MAX_LINE_BYTES.max(options.max_line_bytes);
        let mut tail = FileTail::open_with(catcher.clone(), start)?.with_max_line_bytes(tail_cap);
        if let Some(loss) = tail.resume_loss() {
            metrics::counter!("skein_agent_losses_total", "kind" => "resume").increment(1);
            tracing::warn!(
                "{}: the file this agent was reading is gone or was truncated while the agent \
                 was stopped ({loss:?}); lines written after the checkpoint and no longer on \
                 disk are lost",
                spec.path.display()
            );
            // What is read now is numbered above everything read before, including what
            // was read past the resume point (held by a merger) on the other stream.
            if let Some(s) =
                state.filter(|s| s.position.as_ref().is_some_and(|p| p.logical() < s.end))
            {
                let above = TailPosition {
                    file: FileId::none(),
                    offset: 0,
                    base: s.end,
                };
                tail = FileTail::open_with(catcher, Some(above))?.with_max_line_bytes(tail_cap);
            }
        }
        let payload = match spec.format {
            // Lines of plain files carry their own times, if anything does.
            Format::Plain => PayloadConfig {
                time_from_payload: true,
            },
            _ => options.payload.clone(),
        };
        let mut decoder = SourceDecoder::new(
            spec.format,
            payload,
            options.multiline.clone(),
            options.max_line_bytes,
        );
        if let Some(s) = state {
            decoder.skip_through(s.shipped);
        }
        Ok(Source {
            dir: watched_dir(&spec.path),
            encoder: RecordEncoder::new(&spec.meta, None),
            redact: options.redact.clone(),
            spec,
            tail,
            decoder,
            attrs_generation: 0,
            shipped: state.map_or([None; 3], |s| s.shipped),
            drained_since: None,
        })
    }

    /// The catcher of the followed path (see [`open_watched`](Self::open_watched)).
    pub fn catcher(&self) -> &Catcher {
        self.tail.catcher()
    }

    /// What is followed.
    pub fn spec(&self) -> &SourceSpec {
        &self.spec
    }

    /// The directory of the live file, spelled as file notifications name it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes newer metadata (a renamed container, metadata learned from Docker after a
    /// restart); later records carry it.
    pub fn update(&mut self, spec: SourceSpec) {
        if spec.meta != self.spec.meta {
            self.spec.meta = spec.meta;
            self.encoder = RecordEncoder::new(&self.spec.meta, self.decoder.attrs());
        }
    }

    /// Reads up to about `limit` bytes and appends their records to `out`.
    pub fn pump(
        &mut self,
        limit: usize,
        now: Instant,
        scratch: &mut Scratch,
        out: &mut BatchWriter,
    ) -> io::Result<Pumped> {
        let Scratch { buf, events } = scratch;
        buf.clear();
        let chunk = self.tail.poll(buf, limit)?;
        while let Some(loss) = self.tail.take_loss() {
            report_loss(&self.spec.path, loss);
        }
        let mut pumped = Pumped {
            bytes: chunk.len,
            ..Pumped::default()
        };
        let mut pos = 0;
        while pos < buf.len() {
            let end = memchr::memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i + 1);
            self.decoder
                .push_line(&buf[pos..end], chunk.start + pos as u64, now, events);
            pumped.lines += 1;
            pos = end;
        }
        if chunk.file_ended {
            tracing::debug!(
                "{}: file ended ({:?}) at logical position {}",
                self.spec.path.display(),
                chunk.ended_by,
                chunk.start + chunk.len as u64
            );
            self.decoder.flush(events);
        }
        (pumped.records, pumped.oldest) = self.emit(events, out);
        if buf.capacity() > 2 * limit.max(1 << 16) {
            // One huge line should not pin its buffer for the life of the agent.
            *buf = Vec::new();
        }
        Ok(pumped)
    }

    /// Emits multiline events whose wait is over.
    pub fn flush_expired(
        &mut self,
        now: Instant,
        scratch: &mut Scratch,
        out: &mut BatchWriter,
    ) -> u64 {
        self.decoder.flush_expired(now, &mut scratch.events);
        self.emit(&mut scratch.events, out).0
    }

    /// When [`flush_expired`](Self::flush_expired) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.decoder.next_deadline()
    }

    /// Whether the file is gone and everything in it was read and emitted.
    pub fn is_finished(&self) -> bool {
        self.tail.is_drained() && self.decoder.pending_offset().is_none()
    }

    /// How long the source has been [finished](Self::is_finished), as of `now`.
    ///
    /// A rotation leaves the live path missing for a moment (dockerd renames the file
    /// and then creates the new one), so a source is only dropped once it has stayed
    /// finished for a while.
    pub fn finished_for(&mut self, now: Instant) -> Option<std::time::Duration> {
        if self.is_finished() {
            Some(now.duration_since(*self.drained_since.get_or_insert(now)))
        } else {
            self.drained_since = None;
            None
        }
    }

    /// Bytes in the file not read yet.
    pub fn lag_bytes(&self) -> u64 {
        self.tail.lag_bytes()
    }

    /// Where a restart resumes, given everything emitted so far has been shipped.
    pub fn state(&self) -> SourceState {
        let end = self.tail.logical_offset();
        let resume = self.decoder.pending_offset().unwrap_or(end);
        SourceState {
            path: self.spec.path.clone(),
            format: (self.spec.format != Format::for_path(&self.spec.path))
                .then_some(self.spec.format),
            meta: self.spec.meta.clone(),
            position: Some(self.tail.position_at(resume)),
            end,
            shipped: self.shipped,
        }
    }

    /// Redacts and encodes the decoded events and notes, per slot, the last on-disk line shipped;
    /// returns how many and the earliest runtime time among them (see [`Pumped::oldest`]).
    fn emit(&mut self, events: &mut Vec<Event>, out: &mut BatchWriter) -> (u64, Option<Timestamp>) {
        if self.decoder.attrs_generation() != self.attrs_generation {
            self.attrs_generation = self.decoder.attrs_generation();
            self.encoder = RecordEncoder::new(&self.spec.meta, self.decoder.attrs());
        }
        let mut records = 0;
        let mut oldest: Option<Timestamp> = None;
        let runtime_timed = self.spec.format != Format::Plain;
        for mut event in events.drain(..) {
            if let Some(r) = &self.redact {
                r.payload(&mut event.payload);
            }
            if runtime_timed && event.stream.is_some() {
                oldest = Some(oldest.map_or(event.time, |t| t.min(event.time)));
            }
            let slot = event.slot();
            self.shipped[slot] = self.shipped[slot].max(Some(event.last_offset));
            self.encoder.encode(&event, 0, out);
            records += 1;
        }
        (records, oldest)
    }
}

fn layout_of(spec: &SourceSpec) -> Layout {
    match spec.format {
        Format::JsonFile => Layout::Numbered,
        Format::Cri | Format::Plain => Layout::Plain,
    }
}

/// Says what was lost, on `/metrics` and as a warning: a loss is never silent.
fn report_loss(path: &Path, loss: Loss) {
    metrics::counter!("skein_agent_bytes_lost_total").increment(loss.bytes);
    match loss.kind {
        LossKind::Unopened { files } => {
            metrics::counter!("skein_agent_losses_total", "kind" => "unopened").increment(files);
            tracing::warn!(
                "{}: {files} file(s) rotated in at this path were deleted or renamed away \
                 before the agent could open them; their lines are lost (about {} bytes, \
                 taking each to be as large as the file before it). The agent fell behind \
                 the writer's rotations: give it more CPU, or rotate less often (a larger \
                 json-file max-size or max-file)",
                path.display(),
                loss.bytes
            );
        }
        LossKind::Truncated => {
            metrics::counter!("skein_agent_losses_total", "kind" => "truncated").increment(1);
            tracing::warn!(
                "{}: truncated with {} bytes written to it not read yet; those lines are \
                 lost. Rotate by renaming (logrotate's default) rather than copytruncate, \
                 or with Docker, max-file of 2 or more",
                path.display(),
                loss.bytes
            );
        }
    }
}

/// The directory of `path` as file notifications name it: absolute. The watcher
/// (notify) makes a relative directory absolute before watching it and names changed
/// files under that absolute path, so a source found through a relative `--path` glob,
/// kept under its relative directory, was never matched to its notifications and was
/// read only by the timer polls (the 1 s poll after a quiet spell).
fn watched_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::SourceMeta;
    use crate::parse::json_file::encode_line;
    use crate::parse::Stream;
    use skein_model::{Record, Timestamp};
    use std::io::Write;

    const ID: &str = "3f2a9c1be0d84a7c9e51b2f6a8d04c1e7b93f5a2c6d8e0f1a3b5c7d9e1f2a4b6";

    #[test]
    fn a_relative_path_is_watched_under_the_directory_notifications_name() {
        // notify watches `cwd.join(dir)` and names changed files under it; paths
        // compare by components, so `./` inside does not matter.
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(watched_dir(Path::new("logs/app.log")), cwd.join("logs"));
        assert_eq!(watched_dir(Path::new("./logs/app.log")), cwd.join("./logs"));
        assert_eq!(watched_dir(Path::new("app.log")), cwd.join(""));
        assert_eq!(
            watched_dir(Path::new("/var/log/app.log")),
            Path::new("/var/log")
        );
    }

    fn options(multiline: Option<&str>) -> ReadOptions {
        ReadOptions {
            max_line_bytes: 1 << 20,
            payload: PayloadConfig::default(),
            multiline: multiline.map(|p| {
                let mut m = MultilineConfig::new(p).unwrap();
                m.flush_after = std::time::Duration::from_secs(3600);
                m
            }),
            redact: None,
        }
    }

    fn append(path: &Path, entries: &[(&str, Stream)]) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for (i, (log, stream)) in entries.iter().enumerate() {
            f.write_all(encode_line(log, *stream, Timestamp(i as i64)).as_bytes())
                .unwrap();
        }
    }

    fn pump_all(source: &mut Source) -> Vec<Record> {
        let mut scratch = Scratch::default();
        let mut out = BatchWriter::default();
        for _ in 0..4 {
            source
                .pump(1 << 20, Instant::now(), &mut scratch, &mut out)
                .unwrap();
        }
        let decoded = skein_model::compact::decode(&out.bytes).decoded;
        assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
        decoded.records
    }

    /// Restart from `state()` after every emitted record: the records over all runs
    /// are exactly those of one uninterrupted run.
    fn check_restarts(
        multiline: Option<&str>,
        first: &[(&str, Stream)],
        second: &[(&str, Stream)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{ID}-json.log"));
        let spec = SourceSpec {
            key: ID.into(),
            path: path.clone(),
            format: Format::JsonFile,
            meta: SourceMeta::from_container_id("node-1", ID),
        };
        append(&path, first);
        let mut s = Source::open(spec.clone(), None, &options(multiline)).unwrap();
        let mut got = pump_all(&mut s);
        let state = s.state();
        drop(s);
        append(&path, second);
        let mut s = Source::open(spec.clone(), Some(&state), &options(multiline)).unwrap();
        got.extend(pump_all(&mut s));

        let straight_dir = tempfile::tempdir().unwrap();
        let straight_path = straight_dir.path().join(format!("{ID}-json.log"));
        append(&straight_path, first);
        append(&straight_path, second);
        let mut once = Source::open(
            SourceSpec {
                path: straight_path,
                ..spec
            },
            None,
            &options(multiline),
        )
        .unwrap();
        let want = pump_all(&mut once);
        let strip = |r: &Record| (r.stream.clone(), r.message.clone(), r.seq);
        let got: Vec<_> = got.iter().map(strip).collect();
        let want: Vec<_> = want.iter().map(strip).collect();
        let mut got_sorted = got.clone();
        let mut want_sorted = want.clone();
        got_sorted.sort();
        want_sorted.sort();
        assert_eq!(got_sorted, want_sorted, "restart changed what is sent");
    }

    #[test]
    fn events_are_redacted_before_they_are_encoded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{ID}-json.log"));
        append(
            &path,
            &[
                (
                    "{\"msg\":\"to a@b.io\",\"cc\":[\"c@d.io\"]}\n",
                    Stream::Stdout,
                ),
                ("plain e@f.io\n", Stream::Stderr),
            ],
        );
        let spec = SourceSpec {
            key: ID.into(),
            path,
            format: Format::JsonFile,
            meta: SourceMeta::from_container_id("node-1", ID),
        };
        let rules = skein_model::redact::Redactor::from_args(&["email"]).unwrap();
        let options = ReadOptions {
            redact: Some(Arc::new(Redaction::new(rules))),
            ..options(None)
        };
        let mut s = Source::open(spec, None, &options).unwrap();
        let got: Vec<(String, String)> = pump_all(&mut s)
            .into_iter()
            .map(|r| (r.message, serde_json::to_string(&r.fields).unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "to [REDACTED:email]".into(),
                    r#"{"cc":["[REDACTED:email]"]}"#.into()
                ),
                ("plain [REDACTED:email]".into(), "{}".into()),
            ]
        );
    }

    #[test]
    fn a_restart_does_not_rejoin_a_line_finished_before_it() {
        // stderr is split across a held stdout piece: the resume point is before the
        // stdout piece, and the stderr end must not come back as a record of its own.
        check_restarts(
            None,
            &[
                ("err begins ", Stream::Stderr),
                ("out begins ", Stream::Stdout),
                ("err ends\n", Stream::Stderr),
            ],
            &[("out ends\n", Stream::Stdout), ("later\n", Stream::Stderr)],
        );
    }

    #[test]
    fn a_restart_does_not_resend_multiline_continuations() {
        check_restarts(
            Some(r"^\S"),
            &[
                ("Exception on stderr\n", Stream::Stderr),
                ("Out event\n", Stream::Stdout),
                ("\tat stderr frame\n", Stream::Stderr),
                ("Next stderr event\n", Stream::Stderr),
            ],
            &[
                ("\tat stdout frame\n", Stream::Stdout),
                ("Last\n", Stream::Stdout),
            ],
        );
    }
}
