//! Segment merges run at the lowest CPU priority, so that when the CPU is short ingest
//! goes first (as Elasticsearch throttles merges to keep indexing fast).
//!
//! Under a bulk load every commit adds two small segments, and the merge policy merges
//! a dozen of them at a time: a merge of several hundred thousand records takes seconds
//! of CPU. At normal priority that CPU is taken from parsing and indexing while clients
//! wait; at nice 19 a merge uses what is left and finishes once the load eases. Search
//! meanwhile reads a few more segments.
//!
//! Tantivy names its merge threads `merge_thread_N` and offers no hook to start them
//! with a priority, so [`MergePriority::lower_new_merge_threads`] finds them by name
//! among the process's threads after each commit. That also catches the merge thread
//! of a compaction's own writer, which is where a compaction does its work. Linux only;
//! elsewhere it does nothing.

use std::collections::HashSet;

/// Lowest priority for `setpriority`.
const NICE: i32 = 19;

/// The merge threads already lowered.
#[derive(Debug, Default)]
pub(crate) struct MergePriority {
    lowered: HashSet<u32>,
}

impl MergePriority {
    /// Lowers the priority of merge threads started since the last call.
    pub(crate) fn lower_new_merge_threads(&mut self) {
        #[cfg(target_os = "linux")]
        {
            let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
                return;
            };
            let mut alive = HashSet::new();
            for task in tasks.flatten() {
                let Some(tid) = task
                    .file_name()
                    .to_str()
                    .and_then(|t| t.parse::<u32>().ok())
                else {
                    continue;
                };
                let Ok(name) = std::fs::read_to_string(task.path().join("comm")) else {
                    continue;
                };
                if !name.starts_with("merge_thread") {
                    continue;
                }
                alive.insert(tid);
                if !self.lowered.contains(&tid) && lower(tid) {
                    self.lowered.insert(tid);
                }
            }
            // Thread ids are reused once a thread ends.
            self.lowered.retain(|t| alive.contains(t));
        }
    }
}

#[cfg(target_os = "linux")]
fn lower(tid: u32) -> bool {
    // SAFETY: setpriority only reads its arguments; on Linux a thread id names that one
    // thread.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, NICE) == 0 }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc, Barrier};

    /// The nice value of thread `tid` of this process.
    fn nice(tid: u32) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        fields[16].parse().unwrap()
    }

    #[test]
    fn lowers_threads_named_like_tantivys_merge_threads_only() {
        let names: [&'static str; 2] = ["merge_thread_0", "not_a_merge"];
        let release = Arc::new(Barrier::new(names.len() + 1));
        let (tx, rx) = mpsc::channel();
        let handles: Vec<_> = names
            .iter()
            .map(|&name| {
                let (tx, release) = (tx.clone(), release.clone());
                std::thread::Builder::new()
                    .name(name.to_string())
                    .spawn(move || {
                        // SAFETY: gettid has no preconditions.
                        tx.send((name, unsafe { libc::gettid() } as u32)).unwrap();
                        release.wait();
                    })
                    .unwrap()
            })
            .collect();
        let started: Vec<(&str, u32)> = (0..names.len()).map(|_| rx.recv().unwrap()).collect();
        MergePriority::default().lower_new_merge_threads();
        for (name, tid) in started {
            let want = if name.starts_with("merge_thread") {
                NICE
            } else {
                0
            };
            assert_eq!(nice(tid), want, "{name}");
        }
        release.wait();
        for h in handles {
            h.join().unwrap();
        }
    }
}
