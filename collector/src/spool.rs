//! The on-disk queue of batches between the reader and the shipper.
//!
//! Every batch goes through the spool, so there is one path whether the server is up or
//! away: the reader appends, the shipper reads the oldest unacknowledged batch back (from
//! the page cache, normally) and, once the server acknowledges it, the segments holding
//! only acknowledged batches are deleted. Memory holds an index entry per batch, never
//! the batches; the disk holds at most the configured cap, past which the reader waits.
//!
//! Segments are `{first batch number:020}.spool`, a sequence of frames:
//! `[len: u32 LE][crc32 of the rest: u32 LE][batch number: u64 LE][records: u32 LE]`
//! `[positions length: u32 LE][positions JSON][zstd NDJSON body]`. Frames are not
//! fsynced: a SIGKILL leaves them in the page cache, and after a power loss recovery
//! keeps the valid prefix and the reader re-reads the rest from the log files, whose
//! positions the checkpoint and the surviving frames record.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Size past which a segment is closed and a new one begun.
const SEGMENT_BYTES: u64 = 16 << 20;
/// Frame header bytes before the batch number.
const HEADER: usize = 8;
/// Bytes of the fixed part after the header.
const FIXED: usize = 8 + 4 + 4;

/// Why the spool could not be used.
#[derive(Debug, Error)]
pub enum SpoolError {
    /// The spool directory or one of its files could not be read or written.
    #[error("agent spool {path}: {source} (check that the state directory is writable and has free space)")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One batch as it sits in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledBatch {
    /// The batch number, increasing by one from batch to batch.
    pub no: u64,
    /// How many records the body holds.
    pub records: u32,
    /// The position updates this batch makes, as JSON (see `crate::checkpoint`).
    pub positions: Vec<u8>,
    /// The zstd-compressed NDJSON body.
    pub body: Vec<u8>,
}

impl SpooledBatch {
    fn frame_len(&self) -> usize {
        HEADER + FIXED + self.positions.len() + self.body.len()
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    no: u64,
    segment: u64,
    offset: u64,
    len: u32,
}

/// The spool (see the module docs).
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    /// Index of every frame on disk, oldest first.
    entries: std::collections::VecDeque<Entry>,
    /// Segment numbers (first batch number) with their sizes, oldest first.
    segments: Vec<(u64, u64)>,
    writer: Option<(u64, File)>,
    bytes: u64,
}

impl Spool {
    /// Opens the spool in `dir`, keeping the valid frames of earlier runs and dropping
    /// those numbered at or below `acked` (already acknowledged) and anything after the
    /// first damaged frame. Returns the spool and the batches it still holds, oldest
    /// first, without their bodies (which stay on disk for [`read`](Self::read)), so the
    /// caller can restore positions; memory holds one segment at a time.
    pub fn open(dir: &Path, acked: u64) -> Result<(Spool, Vec<SpooledBatch>), SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut names: Vec<u64> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".spool")?
                    .parse::<u64>()
                    .ok()
            })
            .collect();
        names.sort_unstable();
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            entries: Default::default(),
            segments: Vec::new(),
            writer: None,
            bytes: 0,
        };
        let mut kept = Vec::new();
        let mut damaged = false;
        let mut next_no = None;
        for segment in names {
            let path = spool.segment_path(segment);
            if damaged {
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            let data = fs::read(&path).map_err(io_err(&path))?;
            let mut offset = 0usize;
            let mut live = false;
            while offset < data.len() {
                let Some((batch, len)) = decode_frame(&data[offset..]) else {
                    damaged = true;
                    break;
                };
                // Numbers must run on without a gap; anything else is a leftover.
                if next_no.is_some_and(|n| n != batch.no) {
                    damaged = true;
                    break;
                }
                next_no = Some(batch.no + 1);
                if batch.no > acked {
                    spool.entries.push_back(Entry {
                        no: batch.no,
                        segment,
                        offset: offset as u64,
                        len: len as u32,
                    });
                    kept.push(SpooledBatch {
                        body: Vec::new(),
                        ..batch
                    });
                    live = true;
                }
                offset += len;
            }
            if damaged {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                f.set_len(offset as u64).map_err(io_err(&path))?;
            }
            if live {
                spool.segments.push((segment, offset as u64));
                spool.bytes += offset as u64;
            } else {
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        Ok((spool, kept))
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// How many batches are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no batch is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of the newest batch held.
    pub fn last_no(&self) -> Option<u64> {
        self.entries.back().map(|e| e.no)
    }

    /// Appends a batch; its number must follow the newest one held.
    pub fn append(&mut self, batch: &SpooledBatch) -> Result<(), SpoolError> {
        debug_assert!(self.last_no().is_none_or(|n| n + 1 == batch.no));
        let roll = match &self.writer {
            None => true,
            Some((seg, _)) => self.segment_size(*seg) >= SEGMENT_BYTES,
        };
        if roll {
            let path = self.segment_path(batch.no);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            self.writer = Some((batch.no, file));
            self.segments.push((batch.no, 0));
        }
        let segment = self.writer.as_ref().expect("a segment is open").0;
        let offset = self.segment_size(segment);
        let frame = encode_frame(batch);
        let file = &mut self.writer.as_mut().expect("a segment is open").1;
        if let Err(e) = file.write_all(&frame) {
            // Leave no partial frame behind, so the next append starts clean.
            let _ = file.set_len(offset);
            return Err(io_err(&self.segment_path(segment))(e));
        }
        self.entries.push_back(Entry {
            no: batch.no,
            segment,
            offset,
            len: frame.len() as u32,
        });
        if let Some(s) = self.segments.iter_mut().rev().find(|s| s.0 == segment) {
            s.1 += frame.len() as u64;
        }
        self.bytes += frame.len() as u64;
        Ok(())
    }

    /// Reads back batch `no`, if it is held.
    pub fn read(&self, no: u64) -> Result<Option<SpooledBatch>, SpoolError> {
        let Some(first) = self.entries.front() else {
            return Ok(None);
        };
        let Some(entry) = no
            .checked_sub(first.no)
            .and_then(|i| self.entries.get(i as usize))
        else {
            return Ok(None);
        };
        let path = self.segment_path(entry.segment);
        let mut file = File::open(&path).map_err(io_err(&path))?;
        file.seek(SeekFrom::Start(entry.offset))
            .map_err(io_err(&path))?;
        let mut buf = vec![0; entry.len as usize];
        file.read_exact(&mut buf).map_err(io_err(&path))?;
        let (batch, _) = decode_frame(&buf).ok_or_else(|| SpoolError::Io {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, "spooled batch is damaged"),
        })?;
        Ok(Some(batch))
    }

    /// Forgets every batch numbered at or below `no` and deletes the segments that held
    /// only such batches.
    pub fn ack(&mut self, no: u64) -> Result<(), SpoolError> {
        while self.entries.front().is_some_and(|e| e.no <= no) {
            self.entries.pop_front();
        }
        let oldest_live = self.entries.front().map(|e| e.segment);
        let writing = self.writer.as_ref().map(|w| w.0);
        while let Some(&(segment, size)) = self.segments.first() {
            let still_needed = oldest_live.is_some_and(|s| s <= segment);
            // The segment being written is kept while empty of live batches only if
            // something may still go into it; closing it when drained keeps files few.
            if still_needed {
                break;
            }
            if writing == Some(segment) {
                self.writer = None;
            }
            let path = self.segment_path(segment);
            fs::remove_file(&path).map_err(io_err(&path))?;
            self.bytes -= size;
            self.segments.remove(0);
        }
        Ok(())
    }

    fn segment_path(&self, segment: u64) -> PathBuf {
        self.dir.join(format!("{segment:020}.spool"))
    }

    fn segment_size(&self, segment: u64) -> u64 {
        self.segments
            .iter()
            .rev()
            .find(|s| s.0 == segment)
            .map_or(0, |s| s.1)
    }
}

fn encode_frame(batch: &SpooledBatch) -> Vec<u8> {
    let mut frame = Vec::with_capacity(batch.frame_len());
    frame.extend_from_slice(&[0; HEADER]);
    frame.extend_from_slice(&batch.no.to_le_bytes());
    frame.extend_from_slice(&batch.records.to_le_bytes());
    frame.extend_from_slice(&(batch.positions.len() as u32).to_le_bytes());
    frame.extend_from_slice(&batch.positions);
    frame.extend_from_slice(&batch.body);
    let len = frame.len() as u32;
    let crc = crc32fast::hash(&frame[HEADER..]);
    frame[..4].copy_from_slice(&len.to_le_bytes());
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    frame
}

/// Decodes the frame at the start of `data`; `None` when it is torn or damaged.
fn decode_frame(data: &[u8]) -> Option<(SpooledBatch, usize)> {
    let len = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(data.get(4..8)?.try_into().ok()?);
    if len < HEADER + FIXED {
        return None;
    }
    let frame = data.get(..len)?;
    if crc32fast::hash(&frame[HEADER..]) != crc {
        return None;
    }
    let no = u64::from_le_bytes(frame[8..16].try_into().ok()?);
    let records = u32::from_le_bytes(frame[16..20].try_into().ok()?);
    let plen = u32::from_le_bytes(frame[20..24].try_into().ok()?) as usize;
    let positions = frame.get(24..24 + plen)?.to_vec();
    let body = frame[24 + plen..].to_vec();
    Some((
        SpooledBatch {
            no,
            records,
            positions,
            body,
        },
        len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(no: u64, size: usize) -> SpooledBatch {
        SpooledBatch {
            no,
            records: no as u32,
            positions: format!("{{\"n\":{no}}}").into_bytes(),
            body: vec![no as u8; size],
        }
    }

    fn bodiless(no: u64) -> SpooledBatch {
        SpooledBatch {
            body: Vec::new(),
            ..batch(no, 0)
        }
    }

    #[test]
    fn appends_reads_acks_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, old) = Spool::open(dir.path(), 0).unwrap();
        assert!(old.is_empty());
        for no in 1..=5 {
            spool.append(&batch(no, 6 << 20)).unwrap();
        }
        assert_eq!(spool.len(), 5);
        assert_eq!(spool.read(3).unwrap(), Some(batch(3, 6 << 20)));
        assert_eq!(spool.read(6).unwrap(), None);
        assert_eq!(spool.read(0).unwrap(), None);
        let before = spool.bytes();
        spool.ack(3).unwrap();
        assert!(
            spool.bytes() < before,
            "a segment of acknowledged batches is deleted"
        );
        assert_eq!(spool.read(3).unwrap(), None);
        assert_eq!(spool.read(4).unwrap(), Some(batch(4, 6 << 20)));
        drop(spool);

        let (mut spool, kept) = Spool::open(dir.path(), 4).unwrap();
        assert_eq!(kept, vec![bodiless(5)]);
        assert_eq!(spool.read(5).unwrap(), Some(batch(5, 6 << 20)));
        spool.append(&batch(6, 10)).unwrap();
        spool.ack(6).unwrap();
        assert_eq!(spool.bytes(), 0);
        assert!(spool.is_empty());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_torn_tail_is_cut_and_numbering_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 0).unwrap();
        for no in 1..=3 {
            spool.append(&batch(no, 100)).unwrap();
        }
        drop(spool);
        let seg = dir.path().join(format!("{:020}.spool", 1));
        let len = fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 7).unwrap();
        let (mut spool, kept) = Spool::open(dir.path(), 0).unwrap();
        assert_eq!(kept, vec![bodiless(1), bodiless(2)]);
        spool.append(&batch(3, 50)).unwrap();
        drop(spool);
        let (spool, kept) = Spool::open(dir.path(), 1).unwrap();
        assert_eq!(kept, vec![bodiless(2), bodiless(3)]);
        assert_eq!(spool.read(3).unwrap(), Some(batch(3, 50)));
    }

    #[test]
    fn a_damaged_frame_drops_it_and_everything_after() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 0).unwrap();
        for no in 1..=3 {
            spool.append(&batch(no, 100)).unwrap();
        }
        drop(spool);
        let seg = dir.path().join(format!("{:020}.spool", 1));
        let mut data = fs::read(&seg).unwrap();
        let second = batch(1, 100).frame_len() + 30;
        data[second] ^= 0xff;
        fs::write(&seg, &data).unwrap();
        let (spool, kept) = Spool::open(dir.path(), 0).unwrap();
        assert_eq!(kept, vec![bodiless(1)]);
        assert_eq!(spool.bytes(), batch(1, 100).frame_len() as u64);
    }
}
