//! Buffers of request text and WAL lines, reused from one request to the next.
//!
//! A request body is several megabytes. Taken fresh, such a buffer comes from the OS
//! as new pages the kernel must zero, and it is freed on another thread (the WAL's,
//! once its lines are written) than the one that asks for the next: zeroing pages was
//! about a tenth of the request handling's CPU. So bodies are read, decompressed and
//! written as WAL lines into buffers from here, and given back once their lines are in
//! the WAL (or, for a bulk body, once it is parsed).

use std::sync::Mutex;

static FREE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// Enough for the requests being read and written at once; more would only hold memory.
const MAX_FREE: usize = 8;
/// Buffers larger than this are freed, not kept.
const MAX_KEPT_BYTES: usize = 16 << 20;

/// An empty buffer with room for at least `capacity` bytes: the smallest free one that
/// has the room if it is not far larger (its whole capacity counts against the
/// in-flight budget), else the largest free one grown, else a new one.
pub fn take(capacity: usize) -> Vec<u8> {
    let reused = {
        let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
        let roomy = (0..free.len())
            .filter(|&i| free[i].capacity() >= capacity)
            .min_by_key(|&i| free[i].capacity());
        let pick = match roomy {
            Some(i) if free[i].capacity() <= (4 * capacity).max(1 << 20) => Some(i),
            Some(_) => None,
            None => (0..free.len()).max_by_key(|&i| free[i].capacity()),
        };
        pick.map(|i| free.swap_remove(i))
    };
    let mut buf = reused.unwrap_or_default();
    buf.reserve(capacity);
    buf
}

/// Gives `buf` back for [`take`].
pub fn give_back(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > MAX_KEPT_BYTES {
        return;
    }
    buf.clear();
    let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
    if free.len() < MAX_FREE {
        free.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_when_it_has_the_room() {
        let mut b = take(1 << 20);
        b.extend_from_slice(b"lines");
        let ptr = b.as_ptr();
        give_back(b);
        // Another test may take it first; only check what is taken here.
        let again = take(1000);
        assert!(again.is_empty());
        assert!(again.capacity() >= 1000);
        if again.as_ptr() == ptr {
            assert!(again.capacity() >= 1 << 20);
        }
        give_back(again);
        give_back(Vec::with_capacity(MAX_KEPT_BYTES + 1));
        assert!(FREE
            .lock()
            .unwrap()
            .iter()
            .all(|b| b.capacity() <= MAX_KEPT_BYTES));
    }
}
