//! Files their writers closed in the watched directories, each handed over already
//! open (fanotify), so that a file deleted a moment after it was closed is still read.
//!
//! inotify only names a file. The thread that opens the name may wait for a CPU, a
//! lock or a page longer than dockerd takes to rotate the file away and delete it (a
//! few milliseconds with `max-file=2`), and then the file is gone. A fanotify event
//! holds the file itself: the kernel keeps a reference to it in the queue and opens it
//! for whoever reads the event, however late. dockerd closes each json-file before it
//! renames it away, so every rotated file passes through here.
//!
//! Marks with file descriptors need `CAP_SYS_ADMIN`. Without it the catchers work from
//! inotify's names alone, and what they miss is counted (see
//! [`catcher`](crate::tail::catcher)).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A fanotify group reporting files closed after writing in marked directories.
pub(super) struct Closes {
    fd: OwnedFd,
}

/// A file its writer closed, open for reading.
pub(super) struct Closed {
    pub(super) file: File,
    /// Where the file was when the event was read (it may have moved since it was
    /// closed, or have been deleted: then this is its last name).
    pub(super) path: PathBuf,
}

/// What [`Closes::read`] found.
#[derive(Default)]
pub(super) struct Read {
    /// The queue overflowed: closes were dropped.
    pub(super) overflow: bool,
    /// Nothing more is queued.
    pub(super) drained: bool,
}

impl Closes {
    /// A group whose events are read without blocking.
    pub(super) fn init() -> io::Result<Closes> {
        let flags = libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK;
        let file_flags = (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint;
        // SAFETY: plain system call; a non-negative result is a descriptor we now own.
        let fd = unsafe { libc::fanotify_init(flags, file_flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned open and is owned by nothing else.
        Ok(Closes {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Reports the files closed after writing in `dir` from now on.
    pub(super) fn watch(&self, dir: &Path) -> io::Result<()> {
        self.mark(libc::FAN_MARK_ADD | libc::FAN_MARK_ONLYDIR, dir)
    }

    /// Stops reporting the closes in `dir`. A directory deleted meanwhile has lost
    /// its mark already.
    pub(super) fn unwatch(&self, dir: &Path) {
        let _ = self.mark(libc::FAN_MARK_REMOVE, dir);
    }

    fn mark(&self, flags: libc::c_uint, dir: &Path) -> io::Result<()> {
        let c_dir = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mask = libc::FAN_CLOSE_WRITE | libc::FAN_EVENT_ON_CHILD;
        // SAFETY: a valid group descriptor and a NUL-terminated path.
        let r = unsafe {
            libc::fanotify_mark(
                self.fd.as_raw_fd(),
                flags,
                mask,
                libc::AT_FDCWD,
                c_dir.as_ptr(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads one buffer of queued events, adding the closed files to `out`.
    pub(super) fn read(&self, buf: &mut [u8], out: &mut Vec<Closed>) -> io::Result<Read> {
        let mut read = Read::default();
        // SAFETY: `buf` is valid for `buf.len()` bytes of writes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => {
                    read.drained = true;
                    Ok(read)
                }
                io::ErrorKind::Interrupted => Ok(read),
                _ => Err(e),
            };
        }
        let n = n as usize;
        let size = std::mem::size_of::<libc::fanotify_event_metadata>();
        let mut at = 0;
        // Every descriptor in the buffer is taken into an owner before anything can
        // return early, so none leaks.
        while at + size <= n {
            // SAFETY: `size` bytes at `at` are within what the kernel wrote; the
            // struct may be unaligned in the buffer.
            let meta: libc::fanotify_event_metadata =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            if meta.event_len < size as u32 {
                break;
            }
            at += meta.event_len as usize;
            let fd: RawFd = meta.fd;
            if fd >= 0 {
                // SAFETY: the kernel opened `fd` for this event and hands it to us.
                let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
                if meta.vers != libc::FANOTIFY_METADATA_VERSION {
                    continue;
                }
                if let Some(path) = path_of(fd) {
                    out.push(Closed { file, path });
                }
            }
            if meta.mask & libc::FAN_Q_OVERFLOW != 0 {
                read.overflow = true;
            }
        }
        Ok(read)
    }
}

impl AsRawFd for Closes {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The name an open file was last known by.
fn path_of(fd: RawFd) -> Option<PathBuf> {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let bytes = link.as_os_str().as_bytes();
    let bytes = bytes.strip_suffix(b" (deleted)").unwrap_or(bytes);
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
}
