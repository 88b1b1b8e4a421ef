//! [`FileTail`] against real files: one test per behaviour.

use super::file_id::FileId;
use super::{Chunk, FileEnd, FileTail, Layout, Loss, LossKind, ResumeLoss, TailPosition};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const BIG: usize = 1 << 30;

fn setup(name: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

fn append(path: &Path, bytes: &[u8]) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn numbered(path: &Path, k: u32) -> PathBuf {
    PathBuf::from(format!("{}.{k}", path.display()))
}

/// dockerd's rotation: drop `NAME.(max-1)`, shift the rest up, `NAME` → `NAME.1`,
/// create an empty `NAME`.
fn docker_rotate(path: &Path, max_file: u32) {
    let _ = fs::remove_file(numbered(path, max_file - 1));
    for k in (1..max_file - 1).rev() {
        let _ = fs::rename(numbered(path, k), numbered(path, k + 1));
    }
    fs::rename(path, numbered(path, 1)).unwrap();
    fs::File::create(path).unwrap();
}

/// What a poll returned, with the bytes it appended.
struct Got {
    chunk: Chunk,
    bytes: Vec<u8>,
}

fn poll(tail: &mut FileTail, limit: usize) -> Got {
    let mut out = b"earlier".to_vec();
    let chunk = tail.poll(&mut out, limit).unwrap();
    assert_eq!(out.len(), 7 + chunk.len);
    Got {
        chunk,
        bytes: out.split_off(7),
    }
}

/// Polls until nothing changes for three polls in a row (a finished file needs one
/// quiet poll to settle), checking positions increase; returns every chunk.
fn drain(tail: &mut FileTail, limit: usize) -> Vec<Got> {
    let mut got = Vec::new();
    let mut quiet = 0;
    let mut next = tail.logical_offset();
    while quiet < 3 {
        let g = poll(tail, limit);
        if g.chunk.len > 0 {
            assert_eq!(g.chunk.start, next, "chunks are contiguous within one tail");
        }
        assert!(g.chunk.start >= next);
        next = g.chunk.start + g.chunk.len as u64;
        if g.chunk.len == 0 && !g.chunk.file_ended {
            quiet += 1;
        } else {
            quiet = 0;
            got.push(g);
        }
    }
    got
}

fn text(got: &[Got]) -> String {
    got.iter()
        .map(|g| String::from_utf8(g.bytes.clone()).unwrap())
        .collect()
}

fn ends(got: &[Got]) -> Vec<FileEnd> {
    got.iter().filter_map(|g| g.chunk.ended_by).collect()
}

#[test]
fn tail_returns_appended_lines_with_their_positions() {
    let (_dir, path) = setup("app.log");
    append(&path, b"one\ntwo\n");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    let g = poll(&mut tail, BIG);
    assert_eq!((g.chunk.start, g.bytes.as_slice()), (0, &b"one\ntwo\n"[..]));
    assert!(!g.chunk.file_ended);
    assert_eq!(poll(&mut tail, BIG).chunk.len, 0, "idle");
    append(&path, b"three\n");
    let g = poll(&mut tail, BIG);
    assert_eq!((g.chunk.start, g.bytes.as_slice()), (8, &b"three\n"[..]));
    assert_eq!(tail.logical_offset(), 14);
    assert!(!tail.is_drained());
}

#[test]
fn tail_holds_an_incomplete_line_until_its_newline() {
    let (_dir, path) = setup("app.log");
    append(&path, b"done\nhalf a li");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    assert_eq!(poll(&mut tail, BIG).bytes, b"done\n");
    for _ in 0..3 {
        assert_eq!(poll(&mut tail, BIG).chunk.len, 0, "held back, not ended");
    }
    assert_eq!(tail.logical_offset(), 5);
    // A checkpoint now names the start of the unfinished line.
    assert_eq!(tail.position_at(tail.logical_offset()).offset, 5);
    append(&path, b"ne\n");
    let g = poll(&mut tail, BIG);
    assert_eq!(
        (g.chunk.start, g.bytes.as_slice()),
        (5, &b"half a line\n"[..])
    );
}

#[test]
fn tail_limit_bounds_a_poll_but_returns_one_oversized_line() {
    let (_dir, path) = setup("app.log");
    append(&path, b"aaaa\nbbbb\ncccccccccc\nd\n");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    assert_eq!(poll(&mut tail, 12).bytes, b"aaaa\nbbbb\n");
    assert_eq!(poll(&mut tail, 3).bytes, b"cccccccccc\n");
    assert_eq!(poll(&mut tail, 0).bytes, b"d\n");
}

#[test]
fn tail_cuts_an_endless_line_at_the_cap() {
    let (_dir, path) = setup("app.log");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None)
        .unwrap()
        .with_max_line_bytes(100_000);
    append(&path, b"short\n");
    append(&path, &vec![b'x'; 250_000]);
    let mut pieces = Vec::new();
    loop {
        let g = poll(&mut tail, BIG);
        if g.chunk.len == 0 {
            break;
        }
        assert!(g.chunk.cut_line);
        pieces.push(g);
    }
    // The cut piece ends the chunk; the lines before it come with it.
    assert_eq!(&pieces[0].bytes[..6], b"short\n");
    assert_eq!(pieces[0].bytes.len(), 6 + 100_000);
    assert_eq!(pieces[1].bytes.len(), 100_000);
    assert_eq!(pieces.len(), 2, "50 000 bytes wait for their newline");
    assert_eq!(pieces[1].chunk.start, 100_006);
    append(&path, b"\n");
    let g = poll(&mut tail, BIG);
    assert_eq!((g.chunk.start, g.bytes.len()), (200_006, 50_001));
    assert!(!g.chunk.cut_line);

    // A line of exactly the cap is not cut.
    append(&path, &[b'y'; 100_000]);
    append(&path, b"\n");
    let g = poll(&mut tail, BIG);
    assert_eq!(g.bytes.len(), 100_001);
    assert!(!g.chunk.cut_line);
}

#[test]
fn tail_numbered_rotation_reads_files_deleted_while_held_open() {
    let (_dir, path) = setup("c-json.log");
    let mut expected = String::new();
    let mut write = |path: &Path, n: usize| {
        for i in 0..50 {
            let line = format!("file {n} line {i} {}\n", "z".repeat(i * 7));
            append(path, line.as_bytes());
            expected.push_str(&line);
        }
    };
    write(&path, 0);
    let mut tail = FileTail::open(path.clone(), Layout::Numbered, None).unwrap();
    let mut got = vec![poll(&mut tail, 100)];
    // Rotate four times with max-file=2 before the tail reads on: the file it is
    // reading is deleted (by the second rotation) and so are two files it only holds.
    for n in 1..=4 {
        docker_rotate(&path, 2);
        write(&path, n);
        got.push(poll(&mut tail, 100));
    }
    assert!(!numbered(&path, 2).exists());
    got.extend(drain(&mut tail, 1000));
    assert_eq!(text(&got), expected);
    assert_eq!(ends(&got), [FileEnd::Rotated; 4]);
    let mut next = 0;
    for g in &got {
        assert_eq!(g.chunk.start, next);
        next += g.chunk.len as u64;
    }
}

#[test]
fn tail_starts_numbered_files_from_the_oldest() {
    let (_dir, path) = setup("c-json.log");
    append(&path, b"oldest\n");
    docker_rotate(&path, 3);
    append(&path, b"middle\n");
    docker_rotate(&path, 3);
    append(&path, b"live\n");
    let mut tail = FileTail::open(path.clone(), Layout::Numbered, None).unwrap();
    let got = drain(&mut tail, BIG);
    assert_eq!(text(&got), "oldest\nmiddle\nlive\n");
    assert_eq!(got[2].chunk.start, 14);
}

#[test]
fn tail_resumes_from_a_position_in_the_live_file() {
    let (_dir, path) = setup("app.log");
    append(&path, b"a1\na2\n");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    assert_eq!(poll(&mut tail, BIG).bytes, b"a1\na2\n");
    let pos = tail.position_at(3);
    assert_eq!((pos.offset, pos.base), (3, 0));
    let json = serde_json::to_string(&pos).unwrap();
    drop(tail);
    append(&path, b"a3\n");

    let pos: TailPosition = serde_json::from_str(&json).unwrap();
    let mut tail = FileTail::open(path.clone(), Layout::Plain, Some(pos)).unwrap();
    assert_eq!(tail.resume_loss(), None);
    assert_eq!(tail.logical_offset(), 3);
    let g = poll(&mut tail, BIG);
    assert_eq!((g.chunk.start, g.bytes.as_slice()), (3, &b"a2\na3\n"[..]));
}

#[test]
fn tail_resumes_in_a_rotated_numbered_file() {
    let (_dir, path) = setup("c-json.log");
    append(&path, b"first 1\nfirst 2\n");
    let mut tail = FileTail::open(path.clone(), Layout::Numbered, None).unwrap();
    assert_eq!(poll(&mut tail, 1).bytes, b"first 1\n");
    let pos = tail.position_at(tail.logical_offset());
    drop(tail);
    // While the agent is down the file rotates twice and is now NAME.2.
    docker_rotate(&path, 5);
    append(&path, b"second\n");
    docker_rotate(&path, 5);
    append(&path, b"third\n");

    let mut tail = FileTail::open(path.clone(), Layout::Numbered, Some(pos)).unwrap();
    assert_eq!(tail.resume_loss(), None);
    let got = drain(&mut tail, BIG);
    assert_eq!(text(&got), "first 2\nsecond\nthird\n");
    assert_eq!(got[0].chunk.start, 8);
    assert_eq!(got.last().unwrap().chunk.start, 16 + 7);
}

#[test]
fn tail_resume_after_the_checkpointed_file_was_deleted_starts_at_the_oldest() {
    let (_dir, path) = setup("c-json.log");
    append(&path, b"gone 1\ngone 2\n");
    let mut tail = FileTail::open(path.clone(), Layout::Numbered, None).unwrap();
    assert_eq!(poll(&mut tail, 1).bytes, b"gone 1\n");
    let pos = tail.position_at(tail.logical_offset());
    drop(tail);
    for n in 0..3 {
        docker_rotate(&path, 3);
        append(&path, format!("kept {n}\n").as_bytes());
    }
    assert!(!numbered(&path, 3).exists());

    let mut tail = FileTail::open(path.clone(), Layout::Numbered, Some(pos.clone())).unwrap();
    assert!(tail.lost_files());
    assert_eq!(tail.resume_loss(), Some(ResumeLoss::FileGone));
    let got = drain(&mut tail, BIG);
    // max-file=3: the third rotation deleted the checkpointed file; the three kept
    // files are all newer than it.
    assert_eq!(text(&got), "kept 0\nkept 1\nkept 2\n");
    assert_eq!(
        got[0].chunk.start,
        pos.logical(),
        "above everything read before"
    );
}

#[test]
fn tail_plain_rename_and_create() {
    let (_dir, path) = setup("app.log");
    append(&path, b"before\n");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    assert_eq!(poll(&mut tail, BIG).bytes, b"before\n");
    append(&path, b"late in old\n");
    fs::rename(&path, path.with_extension("log-20250101")).unwrap();
    append(&path, b"after\n");
    let got = drain(&mut tail, BIG);
    assert_eq!(text(&got), "late in old\nafter\n");
    assert_eq!(ends(&got), [FileEnd::Rotated]);
    assert_eq!(got[1].chunk.start, 7 + 12);
}

#[test]
fn tail_reads_a_renamed_file_until_it_settles() {
    // logrotate's create mode: the writer keeps writing to the renamed file until it
    // reopens. The old file is finished only once its successor has data or a poll
    // finds it quiet.
    let (dir, path) = setup("app.log");
    append(&path, b"a\n");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    poll(&mut tail, BIG);
    let old = dir.path().join("app.log.old");
    fs::rename(&path, &old).unwrap();
    fs::File::create(&path).unwrap();
    append(&old, b"unfinished");
    let g = poll(&mut tail, BIG);
    assert!(!g.chunk.file_ended && g.chunk.len == 0);
    append(&old, b" b\nc");
    let g = poll(&mut tail, BIG);
    assert_eq!(g.bytes, b"unfinished b\n");
    assert!(!g.chunk.file_ended, "it grew, so it is not settled yet");
    let g = poll(&mut tail, BIG);
    assert_eq!(
        g.bytes, b"c",
        "quiet for a poll: ended with its partial line"
    );
    assert_eq!(g.chunk.ended_by, Some(FileEnd::Rotated));
    append(&path, b"new\n");
    assert_eq!(poll(&mut tail, BIG).bytes, b"new\n");
}

#[test]
fn tail_copytruncate_restarts_above_returned_positions() {
    let (dir, path) = setup("app.log");
    append(&path, b"l1\nl2\npart");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    assert_eq!(poll(&mut tail, BIG).bytes, b"l1\nl2\n");
    append(&path, b"ial\nunread\n");
    // copytruncate: copy, then truncate in place. "ial\nunread\n" was never read.
    fs::copy(&path, dir.path().join("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, b"n1\n");
    let got = drain(&mut tail, BIG);
    assert_eq!(text(&got), "partn1\n");
    assert_eq!(got[0].bytes, b"part");
    assert_eq!(got[0].chunk.ended_by, Some(FileEnd::Truncated));
    assert_eq!(got[0].chunk.start, 6);
    // The new content starts at old base + old read offset (10), above "part".
    assert_eq!(got[1].chunk.start, 10);
}

#[test]
fn tail_copytruncate_regrown_past_the_offset_is_caught_by_the_fingerprint() {
    let (_dir, path) = setup("app.log");
    append(&path, b"old 1\nold 2\n");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    assert_eq!(poll(&mut tail, BIG).bytes, b"old 1\nold 2\n");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, b"new content, longer than before\n");
    let got = drain(&mut tail, BIG);
    assert_eq!(text(&got), "new content, longer than before\n");
    assert_eq!(got[0].chunk.ended_by, Some(FileEnd::Truncated));
    assert_eq!(got[1].chunk.start, 12);
}

#[test]
fn tail_docker_max_file_one_truncates_in_place() {
    let (_dir, path) = setup("c-json.log");
    append(&path, b"x1\n");
    let mut tail = FileTail::open(path.clone(), Layout::Numbered, None).unwrap();
    assert_eq!(poll(&mut tail, BIG).bytes, b"x1\n");
    // dockerd with max-file=1 reopens NAME with O_TRUNC.
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    append(&path, b"y1\n");
    let got = drain(&mut tail, BIG);
    assert_eq!(text(&got), "y1\n");
}

#[test]
fn tail_truncation_while_down_reads_the_new_content_from_its_start() {
    let (_dir, path) = setup("app.log");
    append(&path, b"before the truncation\n");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    poll(&mut tail, BIG);
    let pos = tail.position_at(tail.logical_offset());
    drop(tail);
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    append(&path, b"after\n");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, Some(pos)).unwrap();
    assert_eq!(tail.resume_loss(), Some(ResumeLoss::Truncated));
    let g = poll(&mut tail, BIG);
    assert_eq!((g.chunk.start, g.bytes.as_slice()), (22, &b"after\n"[..]));
}

#[test]
fn tail_deleted_live_path_drains_then_follows_a_new_file() {
    let (_dir, path) = setup("app.log");
    append(&path, b"last words\nno newline");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    assert_eq!(poll(&mut tail, 10).bytes, b"last words\n");
    fs::remove_file(&path).unwrap();
    assert!(!tail.is_drained());
    let got = drain(&mut tail, BIG);
    assert_eq!(text(&got), "no newline");
    assert_eq!(ends(&got), [FileEnd::Deleted]);
    assert!(tail.is_drained());
    assert_eq!(tail.logical_offset(), 21);

    append(&path, b"reborn\n");
    let g = poll(&mut tail, BIG);
    assert_eq!((g.chunk.start, g.bytes.as_slice()), (21, &b"reborn\n"[..]));
    assert!(!tail.is_drained());
}

#[test]
fn tail_waits_for_a_path_that_does_not_exist_yet() {
    let (_dir, path) = setup("later.log");
    let mut tail = FileTail::open(path.clone(), Layout::Numbered, None).unwrap();
    assert!(tail.is_drained());
    assert_eq!(poll(&mut tail, BIG).chunk.len, 0);
    let before = tail.position_at(0);
    assert!(before.file.is_none());
    append(&path, b"hello\n");
    assert_eq!(poll(&mut tail, BIG).bytes, b"hello\n");
    // A position taken before any file existed resumes from the start, without a loss.
    let mut tail = FileTail::open(path.clone(), Layout::Numbered, Some(before)).unwrap();
    assert_eq!(tail.resume_loss(), None);
    assert_eq!(poll(&mut tail, BIG).bytes, b"hello\n");
}

#[test]
fn tail_reused_inode_is_caught_by_the_fingerprint() {
    let (dir, path) = setup("app.log");
    append(&path, b"the original file\n");
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    poll(&mut tail, 5);
    let mut pos = tail.position_at(tail.logical_offset());
    drop(tail);
    fs::remove_file(&path).unwrap();
    append(&path, b"a different file that is long enough\n");
    let ino = fs::metadata(&path).unwrap().ino();
    // ext4 usually hands the freed inode to the next file; make sure this case is the
    // reuse case either way, and leave the fingerprint as the only witness.
    pos.file.ino = ino;
    pos.file.born_ns = None;
    assert!(pos.offset > 0);

    let mut tail = FileTail::open(path.clone(), Layout::Plain, Some(pos.clone())).unwrap();
    assert_eq!(tail.resume_loss(), Some(ResumeLoss::FileGone));
    let g = poll(&mut tail, BIG);
    assert_eq!(g.bytes, b"a different file that is long enough\n");
    assert_eq!(g.chunk.start, pos.logical());

    // With the birth time, even an unfingerprinted checkpoint (the file was empty)
    // is not mistaken for the new file.
    let other = dir.path().join("empty.log");
    fs::File::create(&other).unwrap();
    let mut t = FileTail::open(other.clone(), Layout::Plain, None).unwrap();
    poll(&mut t, BIG);
    let mut empty = t.position_at(0);
    drop(t);
    assert_eq!(empty.file.fingerprint_len, 0);
    if empty.file.born_ns.is_some() {
        fs::remove_file(&other).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        append(&other, b"new\n");
        empty.file.ino = fs::metadata(&other).unwrap().ino();
        let t = FileTail::open(other, Layout::Plain, Some(empty)).unwrap();
        assert_eq!(t.resume_loss(), Some(ResumeLoss::FileGone));
    }
}

#[test]
fn tail_positions_name_recently_finished_files() {
    let (_dir, path) = setup("c-json.log");
    append(&path, b"one\n");
    let mut tail = FileTail::open(path.clone(), Layout::Numbered, None).unwrap();
    poll(&mut tail, BIG);
    let first = tail.position_at(0).file;
    docker_rotate(&path, 3);
    append(&path, b"two\n");
    drain(&mut tail, BIG);
    assert_eq!(tail.logical_offset(), 8);
    let pos = tail.position_at(2);
    assert_eq!((pos.file.key(), pos.offset, pos.base), (first.key(), 2, 0));
    let pos = tail.position_at(6);
    assert_eq!((pos.offset, pos.base), (2, 4));
    // Past the end of what was returned: clamped to the end, never beyond.
    assert_eq!(tail.position_at(100).logical(), 8);
    assert_eq!(
        FileId::none(),
        serde_json::from_str(&serde_json::to_string(&FileId::none()).unwrap()).unwrap()
    );
}

/// Every loss the tail reports, drained.
fn losses(tail: &mut FileTail) -> Vec<Loss> {
    std::iter::from_fn(|| tail.take_loss()).collect()
}

#[test]
fn tail_reads_files_its_catcher_opened_on_arrival_after_they_were_deleted() {
    let (_dir, path) = setup("c-json.log");
    append(&path, b"file 0\n");
    let mut tail = FileTail::open(path.clone(), Layout::Numbered, None).unwrap();
    assert_eq!(poll(&mut tail, BIG).bytes, b"file 0\n");
    // max-file=2 and no poll until the end: each file is deleted two rotations after
    // it was created. The watcher's thread hands every arrival to the catcher.
    for n in 1..=4 {
        docker_rotate(&path, 2);
        tail.catcher().arrived();
        append(&path, format!("file {n}\n").as_bytes());
    }
    assert!(!numbered(&path, 2).exists());
    let got = drain(&mut tail, BIG);
    assert_eq!(text(&got), "file 1\nfile 2\nfile 3\nfile 4\n");
    assert_eq!(losses(&mut tail), []);
}

#[test]
fn tail_counts_files_that_arrived_and_went_before_anything_saw_them() {
    let (_dir, path) = setup("c-json.log");
    let line = |n: usize| format!("file {n} {}\n", "x".repeat(90));
    append(&path, line(0).as_bytes());
    let mut tail = FileTail::open(path.clone(), Layout::Numbered, None).unwrap();
    assert_eq!(poll(&mut tail, BIG).bytes, line(0).as_bytes());
    // Four rotations (max-file=2) while nothing runs: files 1 and 2 are deleted
    // before anything could open them. Their arrivals are delivered afterwards, as
    // inotify queues them for a watcher that was stopped.
    for n in 1..=4 {
        docker_rotate(&path, 2);
        append(&path, line(n).as_bytes());
    }
    for _ in 1..=4 {
        tail.catcher().arrived();
    }
    let got = drain(&mut tail, BIG);
    assert_eq!(text(&got), line(3) + &line(4));
    // The size of a file never opened is taken to be that of the file before it
    // (rotated files are all about dockerd's max-size): here exactly right.
    let one = line(0).len() as u64;
    assert_eq!(
        losses(&mut tail),
        [Loss {
            kind: LossKind::Unopened { files: 2 },
            bytes: 2 * one,
        }]
    );
    // Once reported is enough.
    docker_rotate(&path, 2);
    tail.catcher().arrived();
    append(&path, line(5).as_bytes());
    assert_eq!(text(&drain(&mut tail, BIG)), line(5));
    assert_eq!(losses(&mut tail), []);
}

#[test]
fn tail_reports_the_bytes_a_truncation_took_before_they_were_read() {
    let (_dir, path) = setup("app.log");
    let line = format!("{}\n", "y".repeat(99));
    append(&path, line.repeat(2000).as_bytes());
    let mut tail = FileTail::open(path.clone(), Layout::Plain, None).unwrap();
    // A small limit: one poll reads one buffer of the file, not all of it.
    let got = poll(&mut tail, 100);
    assert_eq!(got.bytes, line.as_bytes());
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, b"after\n");
    let got = drain(&mut tail, BIG);
    assert_eq!(ends(&got), [FileEnd::Truncated]);
    // What was read (one 64 KiB buffer) was returned; the rest of the 200,000 bytes
    // the tail had seen is gone.
    let read = 64 << 10;
    assert!(text(&got).ends_with("after\n"));
    assert_eq!(
        losses(&mut tail),
        [Loss {
            kind: LossKind::Truncated,
            bytes: 200_000 - read,
        }]
    );
}
