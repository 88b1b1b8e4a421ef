//! Model-based test of [`FileTail`], in the spirit of Vector's file-source model tests:
//! random writes, rotations, truncations, polls and restarts on a real directory,
//! checked against a model of which bytes exist and which the tail may have lost.
//!
//! The model knows the content as *segments*: a file from its creation, or from its
//! last truncation, to the next truncation. Segments come in write order, and the tail
//! must return, for each, a prefix of it, exactly once and in order:
//!
//! - all of it, normally;
//! - any prefix, once it was truncated (bytes not yet read are gone);
//! - nothing more than was accepted before a restart if its file is gone when the
//!   tail starts again, or nothing at all if its file vanished before any poll could see
//!   it (deleted, or renamed where a [`Layout::Plain`] tail does not look).
//!
//! File notifications are modelled too: each file created at the live path while a tail
//! runs queues an arrival, and delivering it hands it to the tail's [`Catcher`], which
//! opens what is visible at that moment, as the agent's watcher thread does. A file
//! visible at a delivery must then be read in full, and the files that vanished before
//! any poll or delivery could see them must be reported as lost, exactly, once every
//! arrival was delivered.
//!
//! Every chunk is mapped back to its segment through [`FileTail::position_at`] (inode,
//! then the fingerprint, which differs between segments because each segment's first
//! write starts with a unique 16-byte tag) and compared byte for byte. A restart
//! resumes from a position saved earlier; what the tail returned after that position
//! is forgotten, as an agent that never got it acknowledged would.

use super::file_id::fingerprint;
use super::{Chunk, FileTail, Layout, LossKind, TailPosition, DEFAULT_MAX_LINE_BYTES};
use proptest::prelude::*;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

const NAME: &str = "c-json.log";

#[derive(Debug, Clone)]
enum Op {
    /// A complete line of `len` bytes (0 = empty line), finishing an open partial line.
    Line {
        len: usize,
        seed: u8,
    },
    /// Bytes of a line without its newline yet.
    Partial {
        len: usize,
        seed: u8,
    },
    /// The newline of an open partial line.
    Finish,
    Poll {
        limit: usize,
    },
    /// The watcher's thread handles the next `n` queued arrivals.
    Deliver {
        n: usize,
    },
    /// Numbered: dockerd's rotation with the case's max-file (max-file=1 truncates in
    /// place). Plain: rename to a name the tail does not know, create a new file.
    Rotate,
    /// Plain only: logrotate's copytruncate (the copy is irrelevant to the tail).
    CopyTruncate,
    /// Plain: `rm NAME`. Numbered: container removal, `NAME` and all its rotated files.
    /// The next write creates a new file.
    Delete,
    /// Keep `position_at(logical_offset())` as the checkpoint.
    Save,
    Stop,
    Start,
    Restart,
}

fn op(layout: Layout) -> impl Strategy<Value = Op> {
    let len = prop_oneof![
        6 => 0..120usize,
        1 => 0..2usize,
        1 => 60_000..110_000usize,
    ];
    let limit = prop_oneof![1..200usize, 200..100_000usize, Just(usize::MAX)];
    prop_oneof![
        12 => (len.clone(), any::<u8>()).prop_map(|(len, seed)| Op::Line { len, seed }),
        3 => (len, any::<u8>()).prop_map(|(len, seed)| Op::Partial { len, seed }),
        2 => Just(Op::Finish),
        10 => limit.prop_map(|limit| Op::Poll { limit }),
        5 => (1..4usize).prop_map(|n| Op::Deliver { n }),
        4 => Just(Op::Rotate),
        2 => Just(if layout == Layout::Plain { Op::CopyTruncate } else { Op::Rotate }),
        1 => Just(Op::Delete),
        3 => Just(Op::Save),
        1 => Just(Op::Stop),
        1 => Just(Op::Start),
        2 => Just(Op::Restart),
    ]
}

struct MFile {
    ino: u64,
    name: Option<String>,
    segs: Vec<usize>,
    /// A running tail has opened it (or could have: it was visible at a poll or a
    /// delivered arrival).
    held: bool,
    /// Created at the live path while the running tail ran: its arrival was queued.
    arrived_while_running: bool,
}

struct MSeg {
    data: Vec<u8>,
    /// Exactly this many bytes may end up returned.
    cap: Option<usize>,
    /// Truncated: any prefix may end up returned.
    loose: bool,
}

/// What the caller has accepted so far.
#[derive(Clone, Debug, Default)]
struct Accepted {
    /// Per segment, how many bytes were returned (a prefix).
    delivered: Vec<usize>,
    last_seg: Option<usize>,
    last_ended: bool,
    /// A tail was (re)started since the last chunk: it has no merge state to flush, so
    /// it may begin a new segment without ending the last one.
    fresh: bool,
    next_logical: u64,
}

struct Model {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    layout: Layout,
    max_file: u32,
    max_line: usize,
    files: Vec<MFile>,
    segs: Vec<MSeg>,
    live: Option<usize>,
    partial_open: bool,
    renamed: usize,
    tail: Option<FileTail>,
    /// Arrivals queued for the running tail's catcher, not delivered yet.
    queued: usize,
    /// Files of the running tail that arrived and vanished before anything saw them.
    unseen_losses: u64,
    /// What the running tail reported: files never opened, and bytes of every
    /// truncation (over all tails).
    reported_unopened: u64,
    reported_truncated: u64,
    saved: (Option<TailPosition>, Accepted),
    acc: Accepted,
    out: Vec<u8>,
}

impl Model {
    fn new(layout: Layout, max_file: u32, max_line: usize) -> Model {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Model {
            dir: dir.path().to_path_buf(),
            _dir: dir,
            layout,
            max_file,
            max_line,
            files: Vec::new(),
            segs: Vec::new(),
            live: None,
            partial_open: false,
            renamed: 0,
            tail: None,
            queued: 0,
            unseen_losses: 0,
            reported_unopened: 0,
            reported_truncated: 0,
            saved: (None, Accepted::default()),
            acc: Accepted::default(),
            out: Vec::new(),
        };
        m.start();
        m
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn numbered(k: u32) -> String {
        format!("{NAME}.{k}")
    }

    fn visible(&self, f: &MFile) -> bool {
        match (&f.name, self.layout) {
            (None, _) => false,
            (Some(n), Layout::Plain) => n == NAME,
            (Some(n), Layout::Numbered) => {
                n == NAME
                    || n.strip_prefix(NAME)
                        .and_then(|r| r.strip_prefix('.'))
                        .is_some_and(|k| k.parse::<u32>().is_ok())
            }
        }
    }

    fn new_seg(&mut self, file: usize) {
        self.segs.push(MSeg {
            data: Vec::new(),
            cap: None,
            loose: false,
        });
        self.files[file].segs.push(self.segs.len() - 1);
        self.partial_open = false;
    }

    fn create_live(&mut self) -> usize {
        let path = self.path(NAME);
        fs::File::create(&path).unwrap();
        let ino = fs::metadata(&path).unwrap().ino();
        let running = self.tail.is_some();
        self.files.push(MFile {
            ino,
            name: Some(NAME.to_string()),
            segs: Vec::new(),
            held: false,
            arrived_while_running: running,
        });
        if running {
            self.queued += 1;
        }
        let f = self.files.len() - 1;
        self.new_seg(f);
        self.live = Some(f);
        f
    }

    /// Appends `body` to the live file, creating it if needed. A segment's first write
    /// starts with a tag unique to the segment, so fingerprints tell segments apart.
    fn write(&mut self, body: &[u8]) {
        let f = match self.live {
            Some(f) => f,
            None => self.create_live(),
        };
        let seg = *self.files[f].segs.last().unwrap();
        let mut bytes = Vec::new();
        if self.segs[seg].data.is_empty() {
            bytes.extend_from_slice(format!("[seg{seg:011}]").as_bytes());
        }
        bytes.extend_from_slice(body);
        if bytes.is_empty() {
            return;
        }
        OpenOptions::new()
            .append(true)
            .open(self.path(NAME))
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        self.segs[seg].data.extend_from_slice(&bytes);
    }

    /// A file can no longer be seen by a tail that starts now. If a running tail
    /// never saw it, nothing of it can be read.
    fn vanished(&mut self, f: usize) {
        if self.tail.is_some() && !self.files[f].held {
            for &s in &self.files[f].segs {
                self.segs[s].cap = Some(0);
            }
            if self.files[f].arrived_while_running {
                self.unseen_losses += 1;
            }
        }
    }

    fn truncate_live(&mut self) {
        let Some(f) = self.live else { return };
        OpenOptions::new()
            .write(true)
            .open(self.path(NAME))
            .unwrap()
            .set_len(0)
            .unwrap();
        let seg = *self.files[f].segs.last().unwrap();
        self.segs[seg].loose = true;
        self.new_seg(f);
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Line { len, seed } => {
                let mut body = text(len, seed);
                body.push(b'\n');
                self.write(&body);
                self.partial_open = false;
            }
            Op::Partial { len, seed } => {
                self.write(&text(len, seed));
                self.partial_open = true;
            }
            Op::Finish => {
                if self.partial_open {
                    self.write(b"\n");
                    self.partial_open = false;
                }
            }
            Op::Poll { limit } => {
                self.poll(limit);
            }
            Op::Deliver { n } => self.deliver(n),
            Op::Rotate => self.rotate(),
            Op::CopyTruncate => self.truncate_live(),
            Op::Delete => self.delete(),
            Op::Save => {
                if let Some(tail) = &self.tail {
                    let pos = tail.position_at(tail.logical_offset());
                    let mut acc = self.acc.clone();
                    acc.next_logical = pos.logical();
                    self.saved = (Some(pos), acc);
                }
            }
            Op::Stop => self.stop(),
            Op::Start => self.start(),
            Op::Restart => {
                self.stop();
                self.start();
            }
        }
    }

    fn rotate(&mut self) {
        let Some(live) = self.live else { return };
        match self.layout {
            Layout::Numbered if self.max_file == 1 => self.truncate_live(),
            Layout::Numbered => {
                let last = Self::numbered(self.max_file - 1);
                if let Some(f) = self.file_named(&last) {
                    fs::remove_file(self.path(&last)).unwrap();
                    self.files[f].name = None;
                    self.vanished(f);
                }
                for k in (1..self.max_file - 1).rev() {
                    let (from, to) = (Self::numbered(k), Self::numbered(k + 1));
                    if let Some(f) = self.file_named(&from) {
                        fs::rename(self.path(&from), self.path(&to)).unwrap();
                        self.files[f].name = Some(to);
                    }
                }
                fs::rename(self.path(NAME), self.path(&Self::numbered(1))).unwrap();
                self.files[live].name = Some(Self::numbered(1));
                self.create_live();
            }
            Layout::Plain => {
                self.renamed += 1;
                let to = format!("{NAME}-{}", self.renamed);
                fs::rename(self.path(NAME), self.path(&to)).unwrap();
                self.files[live].name = Some(to);
                self.vanished(live);
                self.create_live();
            }
        }
    }

    fn delete(&mut self) {
        let doomed: Vec<usize> = (0..self.files.len())
            .filter(|&f| match self.layout {
                Layout::Plain => Some(f) == self.live,
                Layout::Numbered => self.visible(&self.files[f]),
            })
            .collect();
        for f in doomed {
            let name = self.files[f].name.take().unwrap();
            fs::remove_file(self.path(&name)).unwrap();
            self.vanished(f);
        }
        self.live = None;
        self.partial_open = false;
    }

    fn file_named(&self, name: &str) -> Option<usize> {
        self.files
            .iter()
            .position(|f| f.name.as_deref() == Some(name))
    }

    fn stop(&mut self) {
        self.tail = None;
        // The watcher goes with the tail: its queued arrivals are never delivered.
        self.queued = 0;
        self.unseen_losses = 0;
        self.reported_unopened = 0;
        for f in &mut self.files {
            f.held = false;
            f.arrived_while_running = false;
        }
    }

    /// The watcher's thread hands `n` queued arrivals to the catcher. Each looks at the
    /// directory as it is now, so everything visible is held from here on.
    fn deliver(&mut self, n: usize) {
        let Some(tail) = &self.tail else { return };
        for _ in 0..n.min(self.queued) {
            tail.catcher().arrived();
            self.queued -= 1;
            for f in 0..self.files.len() {
                if self.visible(&self.files[f]) {
                    self.files[f].held = true;
                }
            }
        }
    }

    fn start(&mut self) {
        if self.tail.is_some() {
            return;
        }
        let (pos, acc) = self.saved.clone();
        // Whatever was returned after the checkpoint was never accepted; what a file
        // gone from sight held past the checkpoint cannot be read again.
        self.acc = acc;
        self.acc.fresh = true;
        for f in 0..self.files.len() {
            let visible = self.visible(&self.files[f]);
            self.files[f].held = visible;
            if !visible {
                for &s in &self.files[f].segs {
                    let had = self.acc.delivered.get(s).copied().unwrap_or(0);
                    let cap = self.segs[s].cap.map_or(had, |c| c.min(had));
                    self.segs[s].cap = Some(cap);
                }
            }
        }
        let tail = FileTail::open(self.path(NAME), self.layout, pos)
            .unwrap()
            .with_max_line_bytes(self.max_line);
        assert_eq!(tail.logical_offset(), self.acc.next_logical);
        self.tail = Some(tail);
    }

    fn poll(&mut self, limit: usize) -> Option<Chunk> {
        self.tail.as_ref()?;
        // The rotation check opens everything visible, as long as the live path exists.
        if self.live.is_some() {
            for f in 0..self.files.len() {
                if self.visible(&self.files[f]) {
                    self.files[f].held = true;
                }
            }
        }
        let tail = self.tail.as_mut().unwrap();
        self.out.clear();
        self.out.extend_from_slice(b"noise");
        let chunk = tail.poll(&mut self.out, limit).unwrap();
        while let Some(loss) = tail.take_loss() {
            match loss.kind {
                LossKind::Unopened { files } => self.reported_unopened += files,
                LossKind::Truncated => {
                    assert!(loss.bytes > 0, "a truncation that lost nothing reported");
                    self.reported_truncated += loss.bytes;
                }
            }
        }
        assert_eq!(self.out.len(), 5 + chunk.len);
        let pos = (chunk.len > 0).then(|| tail.position_at(chunk.start));
        let bytes = self.out[5..].to_vec();
        self.check(chunk, pos, &bytes);
        Some(chunk)
    }

    /// One chunk against the model: bytes, segment order, contiguity, line framing.
    fn check(&mut self, chunk: Chunk, pos: Option<TailPosition>, bytes: &[u8]) {
        assert_eq!(chunk.file_ended, chunk.ended_by.is_some());
        assert!(!(chunk.file_ended && chunk.cut_line));
        // Bases continue from the end of what was read, and everything read is
        // returned, so positions are not just increasing but dense.
        assert_eq!(
            chunk.start, self.acc.next_logical,
            "positions jump or go back: {chunk:?}"
        );
        let Some(pos) = pos else {
            if chunk.file_ended {
                self.acc.last_ended = true;
            }
            return;
        };
        assert_eq!(pos.logical(), chunk.start);
        let file = self
            .files
            .iter()
            .rposition(|f| f.ino == pos.file.ino)
            .expect("chunk from a file the model knows");
        let fp_len = pos.file.fingerprint_len as usize;
        assert!(fp_len >= 16, "a file with data has its tag fingerprinted");
        let seg = *self.files[file]
            .segs
            .iter()
            .rev()
            .find(|&&s| {
                let d = &self.segs[s].data;
                d.len() >= fp_len && fingerprint(&d[..fp_len]) == pos.file.fingerprint
            })
            .expect("chunk from a segment the model knows");
        let off = pos.offset as usize;
        self.acc.delivered.resize(self.segs.len(), 0);
        if self.acc.last_seg == Some(seg) && !self.acc.last_ended {
            assert_eq!(off, self.acc.delivered[seg], "returned twice or skipped");
            assert_eq!(chunk.start, self.acc.next_logical, "gap in positions");
        } else {
            assert!(
                self.acc.last_seg.is_none_or(|l| seg > l),
                "segment {seg} after {:?}: out of order",
                self.acc.last_seg
            );
            assert!(
                self.acc.last_seg.is_none() || self.acc.last_ended || self.acc.fresh,
                "moved on from segment {:?} without ending it",
                self.acc.last_seg
            );
            assert_eq!(
                (off, self.acc.delivered[seg]),
                (0, 0),
                "segment not read from its start"
            );
        }
        let data = &self.segs[seg].data;
        assert!(
            off + bytes.len() <= data.len(),
            "returned bytes never written"
        );
        assert!(
            bytes == &data[off..off + bytes.len()],
            "returned bytes differ from those written"
        );
        if !chunk.file_ended && !chunk.cut_line {
            assert_eq!(bytes.last(), Some(&b'\n'), "an incomplete line returned");
        }
        let mut pieces = bytes.split(|&b| b == b'\n');
        let last = pieces.next_back().unwrap();
        for piece in pieces.chain([last]) {
            assert!(piece.len() <= self.max_line, "a line longer than the cap");
        }
        if chunk.cut_line {
            assert_eq!(last.len(), self.max_line, "a cut piece is exactly the cap");
        }
        self.acc.delivered[seg] = off + bytes.len();
        self.acc.last_seg = Some(seg);
        self.acc.last_ended = chunk.file_ended;
        self.acc.fresh = false;
        self.acc.next_logical = chunk.start + chunk.len as u64;
    }

    /// Stop changing files, let the tail catch up, and check every segment.
    fn finish(&mut self) {
        self.start();
        if self.partial_open {
            self.write(b"\n");
        }
        self.deliver(self.queued);
        // A finished file takes at most one quiet poll to settle before it ends.
        let mut quiet = 0;
        for _ in 0..100_000 {
            let chunk = self.poll(usize::MAX).unwrap();
            if chunk.len == 0 && !chunk.file_ended {
                quiet += 1;
                if quiet == 3 {
                    break;
                }
            } else {
                quiet = 0;
            }
        }
        assert_eq!(quiet, 3, "the tail never settled");
        self.acc.delivered.resize(self.segs.len(), 0);
        for (s, seg) in self.segs.iter().enumerate() {
            let got = self.acc.delivered[s];
            match seg.cap {
                Some(cap) => assert_eq!(got, cap, "segment {s}: lost data can't come back"),
                None if seg.loose => {}
                None => assert_eq!(got, seg.data.len(), "segment {s} not fully read"),
            }
        }
        // Which bytes a truncation took depends on restarts the model does not follow
        // into the tail's reads; it can be no more than the truncated content held.
        let truncated: usize = self
            .segs
            .iter()
            .filter(|s| s.loose)
            .map(|s| s.data.len())
            .sum();
        assert_eq!(
            self.reported_unopened, self.unseen_losses,
            "files that arrived and vanished unseen are reported, each once"
        );
        assert!(
            self.reported_truncated <= truncated as u64,
            "truncations reported {} bytes lost of {truncated} truncated",
            self.reported_truncated
        );
    }
}

fn text(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| b'a' + ((seed as usize + i * 7) % 26) as u8)
        .collect()
}

fn case() -> impl Strategy<Value = (Layout, u32, usize, Vec<Op>)> {
    prop_oneof![Just(Layout::Numbered), Just(Layout::Plain)].prop_flat_map(|layout| {
        (
            Just(layout),
            1..5u32,
            prop_oneof![3 => Just(DEFAULT_MAX_LINE_BYTES), 1 => 1_000..70_000usize],
            proptest::collection::vec(op(layout), 1..70),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every byte not legally lost is returned exactly once, in order, as complete
    /// lines, with increasing logical positions, across rotations and restarts.
    #[test]
    fn tail_model_every_byte_once((layout, max_file, max_line, ops) in case()) {
        let mut m = Model::new(layout, max_file, max_line);
        for op in &ops {
            m.apply(op);
        }
        m.finish();
    }
}

/// Cases the property test once found, kept as plain tests.
#[test]
fn tail_model_regressions() {
    use Op::*;
    let cases: [(Layout, u32, usize, Vec<Op>); 4] = [
        // Restart after an unseen in-place truncation (dockerd max-file=1): the new tail
        // begins the new content without a file_ended from the old one.
        (
            Layout::Numbered,
            1,
            DEFAULT_MAX_LINE_BYTES,
            vec![
                Line { len: 0, seed: 0 },
                Poll { limit: 1 },
                Rotate,
                Save,
                Restart,
                Line { len: 0, seed: 0 },
                Line { len: 0, seed: 0 },
            ],
        ),
        // Several empty rotated files queued: each must end without stalling the tail.
        (
            Layout::Numbered,
            3,
            DEFAULT_MAX_LINE_BYTES,
            vec![
                Line { len: 0, seed: 0 },
                Poll { limit: 1 },
                Rotate,
                Line {
                    len: 60000,
                    seed: 0,
                },
                Rotate,
                Poll { limit: 1 },
                Rotate,
                Rotate,
                Line { len: 0, seed: 0 },
                Save,
                Line { len: 0, seed: 0 },
            ],
        ),
        // A truncation while an over-long partial line is half returned.
        (
            Layout::Numbered,
            1,
            1000,
            vec![
                Partial {
                    len: 60000,
                    seed: 0,
                },
                Poll { limit: 1 },
                Rotate,
                Line { len: 0, seed: 0 },
            ],
        ),
        // An over-long line behind a short one in the same read.
        (
            Layout::Numbered,
            2,
            1000,
            vec![
                Line { len: 0, seed: 0 },
                Line {
                    len: 60000,
                    seed: 0,
                },
            ],
        ),
    ];
    for (layout, max_file, max_line, ops) in cases {
        let mut m = Model::new(layout, max_file, max_line);
        for op in &ops {
            m.apply(op);
        }
        m.finish();
    }
}
