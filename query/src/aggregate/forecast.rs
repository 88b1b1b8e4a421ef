//! Forecasts of a count-over-time series, with a band and the points outside it.
//!
//! The model is additive Holt-Winters (level, trend and a seasonal profile, each
//! smoothed exponentially), or Holt's linear trend when no season is given or found.
//! Its smoothing constants are the ones, from a small grid, with the least squared
//! one-step-ahead error over the history; outliers are damped while fitting. The band
//! is the forecast ± z·σ·√v(h): σ is a robust estimate of the standard deviation of
//! the one-step errors, and v(h) the variance factor of the
//! equivalent state-space model ETS(A,A,A) h steps ahead (Hyndman et al., *Forecasting
//! with Exponential Smoothing*, 2008, table 6.1, class 1). A past point is an anomaly
//! when it lies outside its own one-step-ahead band.

use serde::Serialize;

/// What to forecast, from the request's `forecast` object.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Buckets to forecast; by default one season, or a quarter of the history.
    pub periods: Option<usize>,
    /// Season length in buckets; `None` looks for one (daily, weekly or hourly).
    pub season: Season,
    /// Coverage of the band, e.g. 0.95.
    pub confidence: f64,
}

/// How the season is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Season {
    /// Try a day, a week and an hour and keep the one the data repeats best, if any.
    Auto,
    /// This many buckets.
    Buckets(usize),
    /// No season: trend only.
    None,
}

/// A fitted model and what it says.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Forecast {
    /// `holt-winters` or `holt`.
    pub model: &'static str,
    /// Season length in buckets (0 without a season).
    pub season_buckets: usize,
    /// Smoothing constants chosen: level, trend, season.
    pub alpha: f64,
    /// Trend smoothing.
    pub beta: f64,
    /// Season smoothing.
    pub gamma: f64,
    /// Standard deviation of the one-step-ahead errors.
    pub sigma: f64,
    /// Future values with their band, one per bucket after the history.
    pub ahead: Vec<Band>,
    /// One-step-ahead expectation of each past point (after the warm-up), with its band.
    pub fitted: Vec<Option<Band>>,
}

/// An expected value and its band.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Band {
    /// Expected value.
    pub value: f64,
    /// Lower edge (never below 0: these are counts).
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
}

/// Candidate seasons for `Season::Auto`, in milliseconds: a day, a week, an hour.
const SEASONS_MS: [i64; 3] = [86_400_000, 7 * 86_400_000, 3_600_000];

/// Fits `history` (one value per bucket of `interval_ms`, oldest first) and forecasts.
/// `None` when there are fewer than 4 points to learn from.
pub fn forecast(history: &[f64], interval_ms: i64, spec: &Spec) -> Option<Forecast> {
    let n = history.len();
    if n < 4 {
        return None;
    }
    let m = match spec.season {
        Season::None => 0,
        Season::Buckets(m) if m >= 2 && n >= 2 * m => m,
        Season::Buckets(_) => 0,
        Season::Auto => detect_season(history, interval_ms),
    };
    let grid_a = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
    let grid_b = [0.0, 0.01, 0.05, 0.1, 0.2, 0.3];
    let grid_g: &[f64] = if m > 0 {
        &[0.01, 0.05, 0.1, 0.2, 0.3, 0.5]
    } else {
        &[0.0]
    };
    let best = |clip: f64| {
        let mut best: Option<(f64, f64, f64, f64)> = None;
        for &a in &grid_a {
            for &b in &grid_b {
                for &g in grid_g {
                    let sse = run(history, m, a, b, g, clip).sse;
                    if best.is_none_or(|(s, ..)| sse < s) {
                        best = Some((sse, a, b, g));
                    }
                }
            }
        }
        best.map(|(_, a, b, g)| (a, b, g))
    };
    // A spike must not teach the model to expect another one a season later: fit once,
    // then again with each error clipped at 3 robust standard deviations of the first
    // fit's errors before it updates the state (robust Holt-Winters, after Gelper,
    // Fried and Croux, 2010).
    let warm = warm_up(m);
    let (a0, b0, g0) = best(f64::INFINITY)?;
    let first = run(history, m, a0, b0, g0, f64::INFINITY);
    let clip = match 3.0 * robust_sigma(&first.one_step[warm..], &history[warm..]) {
        c if c > 0.0 => c,
        // A perfect fit: nothing to clip.
        _ => f64::INFINITY,
    };
    let (alpha, beta, gamma) = best(clip)?;
    let fit = run(history, m, alpha, beta, gamma, clip);
    let sigma = robust_sigma(&fit.one_step[warm..], &history[warm..]);
    let z = z_score(spec.confidence);
    let band = |value: f64, factor: f64| {
        let half = z * sigma * factor.sqrt();
        Band {
            value: value.max(0.0),
            lower: (value - half).max(0.0),
            upper: (value + half).max(0.0),
        }
    };
    let fitted = (0..n)
        .map(|t| (t >= warm).then(|| band(fit.one_step[t], 1.0)))
        .collect();
    let periods = spec
        .periods
        .unwrap_or(if m > 0 { m } else { (n / 4).max(1) })
        .min(10_000);
    let mut factor = 1.0;
    let ahead = (1..=periods)
        .map(|h| {
            if h > 1 {
                // v(h) = 1 + Σ_{j<h} c_j², c_j = α(1 + jβ) + γ(1-α)·[m divides j].
                let j = (h - 1) as f64;
                let seasonal = m > 0 && (h - 1) % m == 0;
                let c =
                    alpha * (1.0 + j * beta) + if seasonal { gamma * (1.0 - alpha) } else { 0.0 };
                factor += c * c;
            }
            let season = if m > 0 {
                fit.season[(n + h - 1) % m]
            } else {
                0.0
            };
            band(fit.level + h as f64 * fit.trend + season, factor)
        })
        .collect();
    Some(Forecast {
        model: if m > 0 { "holt-winters" } else { "holt" },
        season_buckets: m,
        alpha,
        beta,
        gamma,
        sigma,
        ahead,
        fitted,
    })
}

/// Points whose one-step-ahead prediction says too little about them to judge: the
/// first season (it initialises the profile), or the first two points of a trend.
fn warm_up(m: usize) -> usize {
    if m > 0 {
        m
    } else {
        2
    }
}

struct Run {
    /// One-step-ahead prediction of each point.
    one_step: Vec<f64>,
    sse: f64,
    level: f64,
    trend: f64,
    /// Seasonal component by position modulo `m`.
    season: Vec<f64>,
}

/// The standard deviation of the errors `y - predicted`, estimated from their median
/// absolute deviation so that a few outliers do not inflate it; their root mean square
/// when most errors are exactly 0.
fn robust_sigma(predicted: &[f64], y: &[f64]) -> f64 {
    let errors: Vec<f64> = predicted.iter().zip(y).map(|(p, y)| y - p).collect();
    if errors.is_empty() {
        return 0.0;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let mid = median(&mut errors.clone());
    let mad = median(&mut errors.iter().map(|e| (e - mid).abs()).collect());
    if mad > 0.0 {
        1.4826 * mad
    } else {
        (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt()
    }
}

/// Additive Holt-Winters over `y` with season `m` (0 = none); each error is clipped to
/// `±clip` before it updates the state.
fn run(y: &[f64], m: usize, a: f64, b: f64, g: f64, clip: f64) -> Run {
    let n = y.len();
    // The initial state is the one just before the first point, so that every point
    // gets a one-step-ahead prediction.
    let (mut level, mut trend, mut season) = if m > 0 {
        // The first two seasons' means give the trend; the first season's mean is the
        // level at its middle, and its points around that line give the profile.
        let first: f64 = y[..m].iter().sum::<f64>() / m as f64;
        let second: f64 = y[m..2 * m].iter().sum::<f64>() / m as f64;
        let trend = (second - first) / m as f64;
        let middle = (m as f64 - 1.0) / 2.0;
        let season: Vec<f64> = y[..m]
            .iter()
            .enumerate()
            .map(|(t, v)| v - (first + trend * (t as f64 - middle)))
            .collect();
        (first - trend * (middle + 1.0), trend, season)
    } else {
        (2.0 * y[0] - y[1], y[1] - y[0], Vec::new())
    };
    let mut one_step = Vec::with_capacity(n);
    let mut sse = 0.0;
    for (t, &obs) in y.iter().enumerate() {
        let s = if m > 0 { season[t % m] } else { 0.0 };
        let predicted = level + trend + s;
        one_step.push(predicted);
        let error = (obs - predicted).clamp(-clip, clip);
        if t >= warm_up(m) {
            sse += error * error;
        }
        let obs = predicted + error;
        let new_level = a * (obs - s) + (1.0 - a) * (level + trend);
        trend = b * (new_level - level) + (1.0 - b) * trend;
        if m > 0 {
            season[t % m] = g * (obs - new_level) + (1.0 - g) * s;
        }
        level = new_level;
    }
    // `level + trend` predicted the next point; the forecast adds h·trend to `level`.
    Run {
        one_step,
        sse,
        level,
        trend,
        season,
    }
}

/// The candidate season the series repeats best (autocorrelation at that lag above
/// 0.3), in buckets; 0 when none does or the history is shorter than two seasons.
fn detect_season(y: &[f64], interval_ms: i64) -> usize {
    let n = y.len();
    let mean = y.iter().sum::<f64>() / n as f64;
    let var: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    if var == 0.0 || interval_ms <= 0 {
        return 0;
    }
    let mut best = (0.3, 0);
    for period in SEASONS_MS {
        if period % interval_ms != 0 {
            continue;
        }
        let m = (period / interval_ms) as usize;
        if m < 2 || n < 2 * m {
            continue;
        }
        let acf: f64 = (m..n)
            .map(|t| (y[t] - mean) * (y[t - m] - mean))
            .sum::<f64>()
            / var;
        if acf > best.0 {
            best = (acf, m);
        }
    }
    best.1
}

/// The two-sided standard normal quantile for `confidence` (Acklam's approximation of
/// the inverse normal distribution, accurate to about 1e-9).
fn z_score(confidence: f64) -> f64 {
    let p = 1.0 - (1.0 - confidence.clamp(0.5, 0.9999)) / 2.0;
    let a = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    let b = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    let c = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    let d = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p_high = 1.0 - 0.02425;
    if p <= p_high {
        let q = p - 0.5;
        let r = q * q;
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    /// Hourly counts: a trend of +2 per hour, a daily wave of amplitude 40, and noise
    /// from a fixed generator of the given amplitude.
    fn daily(hours: usize, noise: f64) -> Vec<f64> {
        let mut x: u64 = 42;
        (0..hours)
            .map(|t| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                let phase = (t % 24) as f64 / 24.0 * std::f64::consts::TAU;
                200.0 + 2.0 * t as f64 + 40.0 * phase.sin() + noise * u
            })
            .collect()
    }

    fn truth(t: usize) -> f64 {
        let phase = (t % 24) as f64 / 24.0 * std::f64::consts::TAU;
        200.0 + 2.0 * t as f64 + 40.0 * phase.sin()
    }

    #[test]
    fn z_scores_are_the_normal_quantiles() {
        assert!((z_score(0.95) - 1.959964).abs() < 1e-5);
        assert!((z_score(0.99) - 2.575829).abs() < 1e-5);
        assert!((z_score(0.6827) - 1.0).abs() < 1e-3);
    }

    #[test]
    fn finds_the_daily_season_and_follows_trend_and_season() {
        let y = daily(24 * 7, 6.0);
        let spec = Spec {
            periods: Some(24),
            season: Season::Auto,
            confidence: 0.95,
        };
        let f = forecast(&y, HOUR, &spec).unwrap();
        assert_eq!(f.model, "holt-winters");
        assert_eq!(f.season_buckets, 24);
        assert_eq!(f.ahead.len(), 24);
        for (h, b) in f.ahead.iter().enumerate() {
            let want = truth(y.len() + h);
            // Within a few units of the truth, and the truth inside the band.
            assert!(
                (b.value - want).abs() < 12.0,
                "h={h}: {} vs {want}",
                b.value
            );
            assert!(b.lower <= want && want <= b.upper, "h={h}: {b:?} vs {want}");
        }
        // The band widens with the horizon.
        assert!(f.ahead[23].upper - f.ahead[23].lower > f.ahead[0].upper - f.ahead[0].lower);
        // The noise is uniform in ±3: σ is about 6/√12.
        assert!(f.sigma > 1.0 && f.sigma < 4.0, "sigma {}", f.sigma);
    }

    #[test]
    fn without_a_season_the_trend_is_extrapolated() {
        let y: Vec<f64> = (0..50).map(|t| 10.0 + 3.0 * t as f64).collect();
        let spec = Spec {
            periods: Some(5),
            season: Season::None,
            confidence: 0.95,
        };
        let f = forecast(&y, 60_000, &spec).unwrap();
        assert_eq!(f.model, "holt");
        for (h, b) in f.ahead.iter().enumerate() {
            assert!((b.value - (10.0 + 3.0 * (50 + h) as f64)).abs() < 1e-6);
        }
        // A straight line leaves no error: no band.
        assert!(f.sigma < 1e-9);
        // Too little history to learn from.
        assert!(forecast(&y[..3], 60_000, &spec).is_none());
        // Auto finds no season in a line.
        let auto = Spec {
            season: Season::Auto,
            ..spec
        };
        assert_eq!(forecast(&y, 60_000, &auto).unwrap().season_buckets, 0);
    }

    #[test]
    fn a_spike_is_outside_its_band_and_ordinary_points_are_not() {
        let mut y = daily(24 * 6, 6.0);
        y[24 * 5 + 7] += 150.0;
        let spec = Spec {
            periods: None,
            season: Season::Buckets(24),
            confidence: 0.99,
        };
        let f = forecast(&y, HOUR, &spec).unwrap();
        let outside: Vec<usize> = f
            .fitted
            .iter()
            .enumerate()
            .filter_map(|(t, b)| b.filter(|b| y[t] < b.lower || y[t] > b.upper).map(|_| t))
            .collect();
        assert!(outside.contains(&(24 * 5 + 7)), "{outside:?}");
        assert!(outside.len() <= 4, "few false alarms: {outside:?}");
        assert!(
            f.fitted[..24].iter().all(Option::is_none),
            "the first season warms up"
        );
        assert_eq!(f.ahead.len(), 24, "one season ahead by default");
    }
}
