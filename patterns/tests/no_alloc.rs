//! `assign` on a line of a known template allocates nothing (it runs on the ingest path).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use skein_patterns::{Config, Miner};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn known_lines_do_not_allocate() {
    let mut m = Miner::new(Config::default());
    let lines: Vec<String> = (0..50)
        .flat_map(|i| {
            [
                format!(
                    "10.0.0.{i} - - \"GET /api/v1/items/{i} HTTP/1.1\" 200 {} \"-\" \"curl/8.0\"",
                    i * 31
                ),
                format!(
                    "worker {i} finished job id={} in {}ms status=ok",
                    i * 7,
                    i + 3
                ),
                format!("{{\"level\":\"info\",\"msg\":\"cache miss\",\"key\":\"user:{i}\"}}"),
            ]
        })
        .collect();
    for l in &lines {
        m.assign(
            if l.len().is_multiple_of(2) {
                "web"
            } else {
                "api"
            },
            l,
        );
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for l in &lines {
        m.assign(
            if l.len().is_multiple_of(2) {
                "web"
            } else {
                "api"
            },
            l,
        );
    }
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed) - before, 0);
}
