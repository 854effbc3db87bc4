//! LatencyHistogram: percentile error bound (property tests) and
//! concurrent writers and readers.

use pcmring_rt::histogram::{HistogramSnapshot, LatencyHistogram, MAX_TRACKED_NS};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Log-uniform values in 0 ..= MAX_TRACKED_NS: every bucket size is hit.
fn value() -> impl Strategy<Value = u64> {
    (1u32..=40, any::<u64>()).prop_map(|(bits, x)| x & ((1u64 << bits) - 1))
}

/// The exact sample at percentile `p` (rank ceil(p/100 * n), at least 1).
fn exact_percentile(sorted: &[u64], p: f64) -> u64 {
    if p <= 0.0 {
        return sorted[0];
    }
    let n = sorted.len() as f64;
    let rank = (p * n / 100.0).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn percentile_within_documented_bound(
        values in prop::collection::vec(value(), 1..2000),
        ps in prop::collection::vec(0.0f64..=100.0, 1..20),
    ) {
        let h = LatencyHistogram::new();
        for &v in &values {
            h.record(v);
        }
        let s = h.snapshot();
        let mut sorted = values.clone();
        sorted.sort_unstable();
        prop_assert_eq!(s.count(), values.len() as u64);
        prop_assert_eq!(s.min(), sorted[0]);
        prop_assert_eq!(s.max(), *sorted.last().unwrap());
        prop_assert_eq!(s.sum(), values.iter().sum::<u64>());
        for p in ps.into_iter().chain([0.0, 50.0, 99.0, 99.9, 100.0]) {
            let v = exact_percentile(&sorted, p);
            let r = s.percentile(p);
            prop_assert!(v <= r && r <= v + v / 16, "p{}: exact {} reported {}", p, v, r);
        }
        prop_assert_eq!(s.percentile(0.0), s.min());
        prop_assert_eq!(s.percentile(100.0), s.max());
    }

    #[test]
    fn merge_equals_recording_everything_in_one(
        a in prop::collection::vec(value(), 0..500),
        b in prop::collection::vec(value(), 0..500),
    ) {
        let (ha, hb, hall) = (LatencyHistogram::new(), LatencyHistogram::new(), LatencyHistogram::new());
        for &v in &a { ha.record(v); hall.record(v); }
        for &v in &b { hb.record(v); hall.record(v); }
        let mut m = ha.snapshot();
        m.merge(&hb.snapshot());
        prop_assert_eq!(m, hall.snapshot());
    }

    #[test]
    fn since_counts_the_interval(
        a in prop::collection::vec(value(), 0..300),
        b in prop::collection::vec(value(), 1..300),
    ) {
        let h = LatencyHistogram::new();
        for &v in &a { h.record(v); }
        let before = h.snapshot();
        let only_b = LatencyHistogram::new();
        for &v in &b { h.record(v); only_b.record(v); }
        let d = h.snapshot().since(&before);
        let exact = only_b.snapshot();
        prop_assert_eq!(d.count(), exact.count());
        prop_assert_eq!(d.sum(), exact.sum());
        prop_assert_eq!(
            d.buckets().collect::<Vec<_>>(),
            exact.buckets().collect::<Vec<_>>()
        );
        let mut sorted = b.clone();
        sorted.sort_unstable();
        // The interval's min/max are only known to bucket precision.
        let (lo, hi) = (sorted[0], *sorted.last().unwrap());
        prop_assert!(d.min() <= lo && d.max() >= hi && d.max() <= hi + hi / 16);
        let p = d.percentile(50.0);
        let v = exact_percentile(&sorted, 50.0);
        prop_assert!(v <= p && p <= v + v / 16, "exact {} reported {}", v, p);
    }
}

#[test]
fn out_of_range_values_keep_exact_max() {
    let h = LatencyHistogram::new();
    h.record(MAX_TRACKED_NS);
    h.record(MAX_TRACKED_NS + 1);
    h.record(u64::MAX / 2);
    let s = h.snapshot();
    assert_eq!(s.count(), 3);
    assert_eq!(s.max(), u64::MAX / 2);
    assert_eq!(s.percentile(100.0), u64::MAX / 2);
}

/// Per-bucket counts keyed by the bucket's low bound.
fn bucket_map(s: &HistogramSnapshot) -> BTreeMap<u64, u64> {
    s.buckets().map(|(lo, _, c)| (lo, c)).collect()
}

#[test]
fn concurrent_writer_and_reader() {
    const N: u64 = 200_000;
    let h = Arc::new(LatencyHistogram::new());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (h, stop) = (h.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut prev = HistogramSnapshot::new();
            let mut cur = HistogramSnapshot::new();
            let mut reads = 0u64;
            while !stop.load(Ordering::Acquire) || reads == 0 {
                h.snapshot_into(&mut cur);
                assert!(cur.count() >= prev.count(), "count went backwards");
                let (pm, cm) = (bucket_map(&prev), bucket_map(&cur));
                for (lo, c) in &pm {
                    let now = cm.get(lo).copied().unwrap_or(0);
                    assert!(now >= *c, "bucket {lo} went from {c} to {now}");
                }
                if cur.count() > 0 {
                    let (p50, p99) = (cur.percentile(50.0), cur.percentile(99.0));
                    assert!(
                        cur.min() <= p50 && p50 <= p99 && p99 <= cur.max(),
                        "{cur:?}"
                    );
                    let mean = cur.mean();
                    assert!(mean >= cur.min() as f64 && mean <= cur.max() as f64);
                }
                std::mem::swap(&mut prev, &mut cur);
                reads += 1;
            }
            reads
        })
    };
    // Values 1..=N, spread over many buckets, with a late maximum.
    for v in 1..=N {
        h.record(v * 97 % 1_000_003);
    }
    h.record(5_000_000);
    stop.store(true, Ordering::Release);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    let s = h.snapshot();
    assert_eq!(s.count(), N + 1);
    assert_eq!(s.max(), 5_000_000);
    let exact_sum: u64 = (1..=N).map(|v| v * 97 % 1_000_003).sum::<u64>() + 5_000_000;
    assert_eq!(s.sum(), exact_sum);
}

#[test]
fn concurrent_writers_lose_nothing() {
    const THREADS: u64 = 4;
    const PER: u64 = 50_000;
    let h = LatencyHistogram::new();
    std::thread::scope(|sc| {
        for t in 0..THREADS {
            let h = &h;
            sc.spawn(move || {
                for i in 0..PER {
                    h.record(t * 1_000_000 + i);
                }
            });
        }
    });
    let s = h.snapshot();
    assert_eq!(s.count(), THREADS * PER);
    assert_eq!(s.min(), 0);
    assert_eq!(s.max(), (THREADS - 1) * 1_000_000 + PER - 1);
    let exact: u64 = (0..THREADS)
        .flat_map(|t| (0..PER).map(move |i| t * 1_000_000 + i))
        .sum();
    assert_eq!(s.sum(), exact);
}
