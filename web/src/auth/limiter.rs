//! Failed authentication attempts per client address: past [`Limiter::max`] in a
//! window, that address is answered 429 until the window ends, so a token cannot be
//! guessed at network speed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most; past it, windows that ended are dropped first, then the
/// map is cleared (an attacker spraying addresses gains a fresh window, not memory).
const MAX_ADDRESSES: usize = 100_000;

/// Counts failures per address.
pub struct Limiter {
    /// Failures allowed per window.
    pub max: u32,
    /// The window.
    pub window: Duration,
    map: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Addresses over the limit; while 0, checking costs no lock.
    over: AtomicUsize,
}

impl Limiter {
    /// `max` failures per `window`.
    pub fn new(max: u32, window: Duration) -> Limiter {
        Limiter {
            max,
            window,
            map: Mutex::default(),
            over: AtomicUsize::new(0),
        }
    }

    /// How long `ip` must wait, if it is over the limit.
    pub fn blocked(&self, ip: Option<IpAddr>) -> Option<Duration> {
        if self.over.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let ip = ip?;
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let (start, n) = *map.get(&ip)?;
        let left = self.window.checked_sub(start.elapsed());
        match left {
            Some(left) if n > self.max => Some(left),
            None => {
                if n > self.max {
                    self.over.fetch_sub(1, Ordering::Relaxed);
                }
                map.remove(&ip);
                None
            }
            _ => None,
        }
    }

    /// Records one failure of `ip`.
    pub fn fail(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ADDRESSES {
            let window = self.window;
            map.retain(|_, (start, _)| start.elapsed() < window);
            if map.len() >= MAX_ADDRESSES {
                map.clear();
            }
            let over = map.values().filter(|(_, n)| *n > self.max).count();
            self.over.store(over, Ordering::Relaxed);
        }
        let e = map.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= self.window {
            if e.1 > self.max {
                self.over.fetch_sub(1, Ordering::Relaxed);
            }
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
        if e.1 == self.max + 1 {
            self.over.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_from_ten_times_the_bound_of_addresses_hold_no_more_than_it() {
        let l = Limiter::new(3, Duration::from_secs(60));
        for i in 0..10 * MAX_ADDRESSES as u32 {
            l.fail(Some(IpAddr::from(i.to_be_bytes())));
            assert!(l.map.lock().unwrap().len() <= MAX_ADDRESSES);
        }
    }

    #[test]
    fn an_address_over_the_limit_waits_and_others_do_not() {
        let l = Limiter::new(3, Duration::from_millis(200));
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            l.fail(a);
            assert!(l.blocked(a).is_none());
        }
        l.fail(a);
        assert!(l.blocked(a).is_some());
        assert!(l.blocked(b).is_none());
        std::thread::sleep(Duration::from_millis(220));
        assert!(l.blocked(a).is_none(), "the window ended");
        assert_eq!(l.over.load(Ordering::Relaxed), 0);
    }
}
