//! The test signal every player of the latency benchmark emits, and the
//! click schedule (shared by `latbench` and `cpal-player`).
//!
//! The stream is S16_LE stereo at 48 kHz. Channel 0 is silent except on a
//! click frame, where it is full scale. Channel 1 carries a *pilot*: on
//! ordinary frames `(k % PILOT_PERIOD) + 1` for the player's own frame
//! counter `k` (never zero, so silence is told apart), on a click frame
//! the click's id. The capture side finds clicks on channel 0 and checks
//! the pilot's continuity to count output gaps (underruns seen at the
//! "DAC"), the same way for every player.
//!
//! The C player (`alsa-player/alsa_player.c`) implements the same rules.

/// Channel-0 value of a click frame.
pub const CLICK: i16 = i16::MAX;
/// Channel-0 values at or above this are a click.
pub const CLICK_THRESHOLD: i16 = 16_384;
/// The pilot counts 1..=PILOT_PERIOD.
pub const PILOT_PERIOD: u64 = 32_000;
/// Frames per second of every stream in the benchmark.
pub const RATE: u32 = 48_000;
/// Interleaved channels.
pub const CHANNELS: usize = 2;

/// Pilot value of player frame `k`.
pub fn pilot(k: u64) -> i16 {
    // < 32_001, so it fits an i16.
    ((k % PILOT_PERIOD) + 1) as i16
}

/// A tiny xorshift generator (no dependency, deterministic per seed).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (0 is replaced by a constant).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// When the clicks go out, on the player's own frame counter: the first
/// after a warm-up, then at random gaps (random phase against the
/// device's ticks), `total` in all. Ids run from 1.
#[derive(Debug, Clone)]
pub struct ClickPlan {
    rng: Rng,
    next_at: u64,
    sent: u32,
    total: u32,
    gap_min: u64,
    gap_max: u64,
}

impl ClickPlan {
    /// `total` clicks, the first after `warmup` frames, then every
    /// `gap_min..=gap_max` frames.
    pub fn new(total: u32, warmup: u64, gap_min: u64, gap_max: u64, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let next_at = warmup + rng.range(0, gap_min);
        ClickPlan {
            rng,
            next_at,
            sent: 0,
            total,
            gap_min,
            gap_max: gap_max.max(gap_min),
        }
    }

    /// The default plan: 0.5 s warm-up, gaps of 25..45 ms.
    pub fn standard(total: u32, seed: u64) -> Self {
        let ms = u64::from(RATE) / 1000;
        Self::new(total, 500 * ms, 25 * ms, 45 * ms, seed)
    }

    /// If a click is due at or before player frame `k` (the first frame of
    /// the block about to be produced), takes it and returns its id.
    pub fn due(&mut self, k: u64) -> Option<u16> {
        if self.sent >= self.total || k < self.next_at {
            return None;
        }
        self.sent += 1;
        self.next_at = k + self.rng.range(self.gap_min, self.gap_max);
        // Ids stay far below i16::MAX (at most a few thousand clicks).
        Some(self.sent as u16)
    }

    /// Clicks sent so far.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    /// Whether every click went out.
    pub fn done(&self) -> bool {
        self.sent >= self.total
    }
}

/// Fills `out` (interleaved S16 stereo) with the pilot for frames
/// `k..k + frames`, and a click with `id` on the first frame if given.
pub fn fill_i16(out: &mut [i16], k: u64, click: Option<u16>) {
    for (i, f) in out.chunks_exact_mut(CHANNELS).enumerate() {
        f[0] = 0;
        f[1] = pilot(k + i as u64);
    }
    if let (Some(id), Some(f)) = (click, out.chunks_exact_mut(CHANNELS).next()) {
        f[0] = CLICK;
        f[1] = id as i16;
    }
}

/// The same as [`fill_i16`] for an f32 renderer (exact in S16: every
/// value is a multiple of 1/32768).
pub fn fill_f32(out: &mut [f32], k: u64, click: Option<u16>) {
    const S: f32 = 1.0 / 32_768.0;
    for (i, f) in out.chunks_exact_mut(CHANNELS).enumerate() {
        f[0] = 0.0;
        f[1] = f32::from(pilot(k + i as u64)) * S;
    }
    if let (Some(id), Some(f)) = (click, out.chunks_exact_mut(CHANNELS).next()) {
        f[0] = f32::from(CLICK) * S;
        f[1] = f32::from(id) * S;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_sends_total_clicks_with_gaps_in_range() {
        let mut p = ClickPlan::new(5, 100, 10, 20, 7);
        let mut at = Vec::new();
        for k in 0..1000 {
            if let Some(id) = p.due(k) {
                at.push((k, id));
            }
        }
        assert_eq!(at.len(), 5);
        assert!(at[0].0 >= 100);
        for w in at.windows(2) {
            assert!((10..=20).contains(&(w[1].0 - w[0].0)), "{at:?}");
            assert_eq!(w[1].1, w[0].1 + 1);
        }
        assert!(p.done());
    }

    #[test]
    fn pilot_is_never_zero_and_wraps() {
        assert_eq!(pilot(0), 1);
        assert_eq!(pilot(PILOT_PERIOD - 1), PILOT_PERIOD as i16);
        assert_eq!(pilot(PILOT_PERIOD), 1);
    }

    #[test]
    fn f32_and_i16_fills_agree() {
        let mut a = [0i16; 8];
        let mut b = [0f32; 8];
        fill_i16(&mut a, 31_998, Some(42));
        fill_f32(&mut b, 31_998, Some(42));
        for (x, y) in a.iter().zip(b.iter()) {
            assert_eq!(f32::from(*x), (y * 32_768.0).round());
        }
        assert_eq!(a[0], CLICK);
        assert_eq!(a[1], 42);
        assert_eq!(a[3], pilot(31_999));
        assert_eq!(a[5], 1);
    }
}
