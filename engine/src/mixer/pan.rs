//! The stereo pan law, tabulated (no `sin`/`cos` per pan change on the
//! realtime thread).

/// The pan law: gains for the left and right output of a voice at `pan`
/// (`-1` left .. `1` right).
///
/// Mono sources use constant power: `left = cos θ`, `right = sin θ` with
/// `θ = (pan + 1) π / 4`, so the centre gives `1/√2` (−3 dB) on each side and
/// `left² + right² = 1` everywhere. Stereo sources use a constant-power
/// balance: `left = min(1, √2 cos θ)`, `right = min(1, √2 sin θ)`, so the
/// centre passes both channels at unity.
///
/// ```
/// let (l, r) = pcmring::mixer::pan_gains(0.0, 1);
/// assert_eq!(l, std::f32::consts::FRAC_1_SQRT_2);
/// assert_eq!(r, std::f32::consts::FRAC_1_SQRT_2);
/// assert_eq!(pcmring::mixer::pan_gains(0.0, 2), (1.0, 1.0));
/// ```
///
/// The curve is tabulated ([`PAN_STEPS`] steps over the pan range, computed
/// in f64) and linearly interpolated between steps (error below 3e-7), so a
/// pan change costs a few operations on the realtime thread; the steps
/// include the centre and both ends, which are exact.
#[inline]
pub fn pan_gains(pan: f32, channels: u16) -> (f32, f32) {
    let t = pan_table();
    let x = (pan.clamp(-1.0, 1.0) + 1.0) * (PAN_STEPS as f32 / 2.0);
    // (Through i32: the cheaper conversions; `x` is in 0..=PAN_STEPS.)
    let i = (x as i32).clamp(0, PAN_STEPS as i32 - 1);
    let f = x - i as f32;
    let i = i as usize;
    let lerp = |a: [f32; 2], b: [f32; 2], k: usize| a[k] + (b[k] - a[k]) * f;
    let (a, b) = if channels >= 2 {
        (t.balance[i], t.balance[i + 1])
    } else {
        (t.power[i], t.power[i + 1])
    };
    if f == 0.0 {
        (a[0], a[1])
    } else {
        (lerp(a, b, 0), lerp(a, b, 1))
    }
}

/// Steps of the tabulated pan law over `-1..=1`.
pub const PAN_STEPS: usize = 1024;

struct PanTable {
    /// `(cos θ, sin θ)` per step.
    power: [[f32; 2]; PAN_STEPS + 1],
    /// `(min(1, √2 cos θ), min(1, √2 sin θ))` per step.
    balance: [[f32; 2]; PAN_STEPS + 1],
}

static PAN_TABLE: std::sync::OnceLock<PanTable> = std::sync::OnceLock::new();

/// The pan table, computed on first use (the builder forces it, so the
/// realtime thread never computes it).
fn pan_table() -> &'static PanTable {
    PAN_TABLE.get_or_init(|| {
        let mut t = PanTable {
            power: [[0.0; 2]; PAN_STEPS + 1],
            balance: [[0.0; 2]; PAN_STEPS + 1],
        };
        for i in 0..=PAN_STEPS {
            let theta = i as f64 / PAN_STEPS as f64 * std::f64::consts::FRAC_PI_2;
            // Exact at the ends and the centre.
            let (l, r) = match i {
                0 => (1.0, 0.0),
                _ if i == PAN_STEPS => (0.0, 1.0),
                _ if 2 * i == PAN_STEPS => (
                    std::f64::consts::FRAC_1_SQRT_2,
                    std::f64::consts::FRAC_1_SQRT_2,
                ),
                _ => (theta.cos(), theta.sin()),
            };
            let s = std::f64::consts::SQRT_2;
            t.power[i] = [l as f32, r as f32];
            t.balance[i] = [(l * s).min(1.0) as f32, (r * s).min(1.0) as f32];
        }
        t
    })
}

/// Computes the pan table now (call off the realtime thread).
pub(crate) fn init_pan_table() {
    let _ = pan_table();
}
