//! `Record::heap_bytes` against what the allocator really hands out for records of the
//! shapes the server holds: agent records, `/es/_bulk` documents, nested payloads.

use skein_model::es_mapping::map_document;
use skein_model::{Record, Timestamp};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts, per thread, the bytes asked for and not yet given back.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.with(|l| l.set(l.get() + layout.size() as isize));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|l| l.set(l.get() - layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.with(|l| l.set(l.get() + new as isize - layout.size() as isize));
        System.realloc(ptr, layout, new)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes `make` leaves allocated per record (the record's own slot included), averaged
/// over a few hundred, with what `heap_bytes` says for them.
fn measured(make: impl Fn(usize) -> Record) -> (usize, usize) {
    const N: usize = 300;
    let mut kept = Vec::with_capacity(N);
    let before = LIVE.with(Cell::get);
    for i in 0..N {
        kept.push(make(i));
    }
    let live = (LIVE.with(Cell::get) - before) as usize + N * std::mem::size_of::<Record>();
    let estimated: usize = kept.iter().map(Record::heap_bytes).sum();
    (live / N, estimated / N)
}

fn assert_close(what: &str, (live, estimated): (usize, usize)) {
    eprintln!("{what}: heap_bytes {estimated}, allocated {live} bytes per record");
    let ratio = estimated as f64 / live as f64;
    assert!(
        (0.8..=1.25).contains(&ratio),
        "{what}: heap_bytes says {estimated} bytes per record, the allocator handed out {live}"
    );
}

#[test]
fn heap_bytes_is_what_the_allocator_hands_out() {
    let agent = |i: usize| {
        let line = format!(
            r#"{{"@timestamp":"2026-11-20T10:00:00.{i:09}Z","host":"node-1","container":"shop-pay-{i}","container_id":"3f2a9c0d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f","image":"shop/pay:1.4","stream":"stdout","level":"info","message":"payment {i} accepted after retry","labels":{{"com.docker.compose.service":"pay"}},"fields":{{"user_id":{i},"latency_ms":18,"path":"/api/pay/{i}","method":"POST","status":200,"trace_id":"fcf98c59f2d83dec519dc75acd5f6acc"}},"_source_id":"node-1/3f2a/stdout","_seq":{i}}}"#
        );
        Record::from_json(line.as_bytes()).unwrap()
    };
    assert_close("agent record", measured(agent));

    let vector = |i: usize| {
        let doc = format!(
            r#"{{"timestamp":"2026-11-20T10:00:00.{i:09}Z","message":"payment {i} accepted after retry","host":"node-1","container_name":"shop-pay-{i}","container_id":"3f2a9c0d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f","image":"shop/pay:1.4","label":{{"com.docker.compose.service":"pay"}},"stream":"stdout","source_type":"docker_logs","level":"info","service":"pay","user_id":{i},"latency_ms":18,"path":"/api/pay/{i}","method":"POST","status":200,"trace_id":"fcf98c59f2d83dec519dc75acd5f6acc"}}"#
        );
        map_document(&doc, "logs", None, Timestamp(0)).unwrap()
    };
    assert_close("/es document", measured(vector));

    let nested = |i: usize| {
        let labels: Vec<String> = (0..15).map(|l| format!(r#""label.{l}":"v{i}""#)).collect();
        let line = format!(
            r#"{{"@timestamp":"2026-11-20T10:00:00Z","message":"m","labels":{{{}}},"fields":{{"http":{{"request":{{"method":"GET","path":"/x/{i}"}},"status":[200,{i}]}},"tags":["a","b","c"],"ratio":0.5}}}}"#,
            labels.join(",")
        );
        Record::from_json(line.as_bytes()).unwrap()
    };
    assert_close("nested payload, many labels", measured(nested));
}
