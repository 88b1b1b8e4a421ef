//! CPU time, memory and wakeups of a child process, read from `/proc`.

/// User + system CPU seconds process `pid` has used so far (all its threads).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (get(11) + get(12)) / ticks
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Peak resident memory of process `pid` in bytes (VmHWM).
pub fn peak_rss(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:")
}

/// Current resident memory of process `pid` in bytes (VmRSS).
pub fn rss(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

/// Context switches (voluntary + involuntary) summed over the threads of `pid`: each
/// voluntary one is a thread going to sleep, so the count tracks wakeups.
pub fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut total = 0;
    for t in tasks.flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        for l in status.lines() {
            if let Some(v) = l
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

/// CPU seconds all processes on the machine have used since boot (everything but idle
/// and iowait in `/proc/stat`).
pub fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    busy / ticks
}

/// CPU time used by everything except some processes (the ones being measured), over
/// an interval.
pub struct OtherLoad {
    busy0: f64,
    started: std::time::Instant,
}

impl OtherLoad {
    /// Starts the interval.
    pub fn start() -> OtherLoad {
        OtherLoad {
            busy0: machine_busy_seconds(),
            started: std::time::Instant::now(),
        }
    }

    /// CPU seconds used by other processes since the start, given the CPU seconds the
    /// measured processes used in the same interval; and that as a share of one core.
    pub fn other(&self, measured_cpu: f64) -> (f64, f64) {
        let busy = machine_busy_seconds() - self.busy0;
        let other = (busy - measured_cpu).max(0.0);
        (other, other / self.started.elapsed().as_secs_f64())
    }
}

/// Bytes process `pid` caused to be written to storage so far (`write_bytes` of
/// `/proc/PID/io`, all its threads; attributed when pages are dirtied).
pub fn write_bytes(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// Bytes written to the machine's disks since boot: sectors written of every block
/// device in `/proc/diskstats` that is a whole disk (in `/sys/block`, loop and RAM
/// devices left out), 512 bytes each.
pub fn disk_written_bytes() -> u64 {
    let stats = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
    let mut total = 0;
    for line in stats.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(sectors)) = (f.get(2), f.get(9)) else {
            continue;
        };
        let whole = std::path::Path::new("/sys/block").join(name).exists();
        if !whole || name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram")
        {
            continue;
        }
        total += sectors.parse::<u64>().unwrap_or(0) * 512;
    }
    total
}
