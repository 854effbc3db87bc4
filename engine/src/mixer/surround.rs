//! Output speaker layouts and how a voice is spread over them.
//!
//! The device's channel count picks the layout ([`OutputLayout::from_channels`]);
//! channels are in ALSA's order (the default channel maps of ALSA's
//! `surround40`, `surround51` and `surround71` PCMs):
//!
//! | layout | channels, in order |
//! | --- | --- |
//! | mono | FC (the left and right mix folded as `(L + R) / 2`) |
//! | stereo | FL FR |
//! | quad | FL FR RL RR |
//! | 5.1 | FL FR RL RR FC LFE |
//! | 7.1 | FL FR RL RR FC LFE SL SR |
//!
//! Other channel counts use the largest layout that fits and leave the
//! remaining channels silent (3 → stereo, 5 → quad, 7 → 5.1, 9 and more → 7.1).
//!
//! **Speaker azimuths** (degrees, 0 ahead, positive to the listener's right),
//! after ITU-R BS.775 for 5.1 and ITU-R BS.2051 (system "0+7+0") for 7.1:
//!
//! | layout | FL | FR | FC | RL | RR | SL | SR |
//! | --- | --- | --- | --- | --- | --- | --- | --- |
//! | quad | −45 | 45 | | −135 | 135 | | |
//! | 5.1 | −30 | 30 | 0 | −110 | 110 | | |
//! | 7.1 | −30 | 30 | 0 | −150 | 150 | −90 | 90 |
//!
//! The LFE channel gets no panned signal (it is for sounds routed there on
//! purpose; no bass management).
//!
//! **Mono sources** are panned with constant power between the two
//! speakers adjacent to their direction on the ring: at a fraction `f` of
//! the way from speaker A to speaker B, `gA = cos(f π/2)`, `gB = sin(f π/2)`
//! (the mixer's tabulated law, see [`super::pan_gains`]), so
//! `gA² + gB² = 1` and a direction on a speaker feeds that speaker alone.
//! A stage pan `p` in `-1..=1` ([`super::VoiceHandle::set_pan`]) is the
//! direction `p × a`, where `a` is the front-right speaker's azimuth: the
//! front stage from FL to FR, through FC where there is one. A direction
//! ([`super::VoiceHandle::set_azimuth`], [`super::Spatial::azimuth`]) covers
//! the whole circle. On stereo and mono outputs a direction `φ` becomes the
//! stage pan `sin φ` (a source behind is heard as its mirror image in front).
//!
//! **Stereo sources** play on FL and FR with the stereo balance law
//! ([`super::pan_gains`]) on every layout: ITU-R BS.775 plays two-channel
//! material on the front pair, with no upmix into the centre or surrounds.
//!
//! **Sounds of 3 to 8 channels** are in the channel order of WAV and FLAC
//! files (the WAVE default channel masks):
//!
//! | channels | order |
//! | --- | --- |
//! | 3 | FL FR FC |
//! | 4 | FL FR BL BR |
//! | 5 | FL FR FC BL BR |
//! | 6 | FL FR FC LFE BL BR |
//! | 7 | FL FR FC LFE BC SL SR |
//! | 8 | FL FR FC LFE BL BR SL SR |
//!
//! They reach the output through a fixed matrix ([`OutputLayout::matrix`])
//! times the voice's gain (their pan is ignored). Each source speaker the
//! layout has goes to it at unity (BL/BR are the layout's RL/RR); nothing
//! is synthesised (upmix is placement only: a quad file on 5.1 leaves FC
//! and LFE silent). The others fold with the ITU-R BS.775 downmix
//! coefficients:
//!
//! | source speaker | when the layout lacks it |
//! | --- | --- |
//! | FC | FL and FR, each × 1/√2 (−3 dB) |
//! | BL, BR | FL, FR × 1/√2 (the −3 dB surround level) |
//! | SL, SR | RL, RR × 1 where the layout has rears (quad, 5.1), else FL, FR × 1/√2 |
//! | BC | RL and RR × 1/√2 each where the layout has rears, else FL and FR × 1/2 |
//! | LFE | dropped (BS.775 leaves it out of the downmix) |
//!
//! A mono output folds the stereo result as `(L + R) / 2`, like any voice.

use super::pan::pan_gains;

/// Most output channels the mixer fills (7.1).
pub const MAX_OUTPUT_CHANNELS: usize = 8;

/// The speaker layout of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputLayout {
    /// One channel.
    Mono,
    /// FL FR.
    Stereo,
    /// FL FR RL RR.
    Quad,
    /// FL FR RL RR FC LFE.
    Surround51,
    /// FL FR RL RR FC LFE SL SR.
    Surround71,
}

/// A speaker of a layout: its channel index in the interleaved output
/// frame and its azimuth in degrees (0 ahead, positive to the right, ±180
/// behind).
type Speaker = (usize, f32);

const fn spk(channel: usize, azimuth: f32) -> Speaker {
    (channel, azimuth)
}

/// Each layout's speakers (LFE excluded), sorted by azimuth.
const QUAD_RING: [Speaker; 4] = [spk(2, -135.0), spk(0, -45.0), spk(1, 45.0), spk(3, 135.0)];
const S51_RING: [Speaker; 5] = [
    spk(2, -110.0),
    spk(0, -30.0),
    spk(4, 0.0),
    spk(1, 30.0),
    spk(3, 110.0),
];
const S71_RING: [Speaker; 7] = [
    spk(2, -150.0),
    spk(6, -90.0),
    spk(0, -30.0),
    spk(4, 0.0),
    spk(1, 30.0),
    spk(7, 90.0),
    spk(3, 150.0),
];

impl OutputLayout {
    /// The layout for a device with `channels` channels (see the module docs
    /// for counts that are not 1, 2, 4, 6 or 8).
    pub fn from_channels(channels: usize) -> OutputLayout {
        match channels {
            0 | 1 => OutputLayout::Mono,
            2 | 3 => OutputLayout::Stereo,
            4 | 5 => OutputLayout::Quad,
            6 | 7 => OutputLayout::Surround51,
            _ => OutputLayout::Surround71,
        }
    }

    /// Channels the layout fills.
    pub fn channels(self) -> usize {
        match self {
            OutputLayout::Mono => 1,
            OutputLayout::Stereo => 2,
            OutputLayout::Quad => 4,
            OutputLayout::Surround51 => 6,
            OutputLayout::Surround71 => 8,
        }
    }

    /// Planes the mixer keeps per bus: the channels, at least 2 (a mono
    /// output mixes left and right, then folds them).
    pub fn planes(self) -> usize {
        self.channels().max(2)
    }

    /// The speakers that take panned signal as `(channel, azimuth)` pairs:
    /// the channel index in the interleaved output frame and the azimuth in
    /// degrees (0 ahead, positive to the right, ±180 behind), sorted by
    /// azimuth (empty for mono and stereo, which use the stereo pan law).
    pub fn speakers(self) -> &'static [(usize, f32)] {
        match self {
            OutputLayout::Mono | OutputLayout::Stereo => &[],
            OutputLayout::Quad => &QUAD_RING,
            OutputLayout::Surround51 => &S51_RING,
            OutputLayout::Surround71 => &S71_RING,
        }
    }

    /// The front-right speaker's azimuth (the edge of the stage pan).
    fn front_azimuth(self) -> f32 {
        match self {
            OutputLayout::Quad => 45.0,
            _ => 30.0,
        }
    }

    /// Gains per output plane for a source of `source_channels` at
    /// `position` (a stage pan or a direction). For a stereo source, plane
    /// 0 carries its left channel and plane 1 its right; for a mono source
    /// every plane carries the source; for 3 to 8 channels each plane
    /// carries its row of [`OutputLayout::matrix`] (gain 1 where the row is
    /// not all zero, and the position is ignored).
    #[inline]
    pub fn gains(self, position: Position, source_channels: u16) -> [f32; MAX_OUTPUT_CHANNELS] {
        // The common case (a pan on a stereo output) inline, the rest not.
        match (self, position) {
            (OutputLayout::Mono | OutputLayout::Stereo, Position::Pan(pan))
                if source_channels <= 2 =>
            {
                let (l, r) = pan_gains(pan, source_channels);
                let mut g = [0.0f32; MAX_OUTPUT_CHANNELS];
                g[0] = l;
                g[1] = r;
                g
            }
            _ => self.gains_general(position, source_channels),
        }
    }

    #[inline(never)]
    fn gains_general(self, position: Position, source_channels: u16) -> [f32; MAX_OUTPUT_CHANNELS] {
        let mut g = [0.0f32; MAX_OUTPUT_CHANNELS];
        if source_channels > 2 {
            // Through the matrix: unity on every plane some channel reaches.
            let m = self.matrix(source_channels);
            for (g, row) in g.iter_mut().zip(m).take(self.planes()) {
                if row.iter().any(|&x| x != 0.0) {
                    *g = 1.0;
                }
            }
            return g;
        }
        let ring = self.speakers();
        if source_channels >= 2 || ring.is_empty() {
            let pan = match position {
                Position::Pan(p) => p,
                Position::Azimuth(a) => a.to_radians().sin(),
            };
            let (l, r) = pan_gains(pan, source_channels);
            g[0] = l;
            g[1] = r;
            return g;
        }
        let az = match position {
            Position::Pan(p) => p.clamp(-1.0, 1.0) * self.front_azimuth(),
            Position::Azimuth(a) => wrap_degrees(a),
        };
        // The adjacent pair (a, b) with az between them, going round the ring.
        let n = ring.len();
        let (a, b, span, off) = match ring.iter().position(|&(_, azimuth)| azimuth > az) {
            Some(0) | None => {
                // Behind, between the last speaker and the first (through ±180).
                let (a, b) = (ring[n - 1], ring[0]);
                let span = b.1 + 360.0 - a.1;
                let off = if az >= a.1 {
                    az - a.1
                } else {
                    az + 360.0 - a.1
                };
                (a, b, span, off)
            }
            Some(i) => {
                let (a, b) = (ring[i - 1], ring[i]);
                (a, b, b.1 - a.1, az - a.1)
            }
        };
        let f = (off / span).clamp(0.0, 1.0);
        let (ga, gb) = pan_gains(2.0 * f - 1.0, 1);
        let ((channel_a, _), (channel_b, _)) = (a, b);
        g[channel_a] = ga;
        g[channel_b] += gb;
        g
    }
}

/// Gains from source channels to output planes: `m[plane][source channel]`.
pub type Matrix = [[f32; MAX_OUTPUT_CHANNELS]; MAX_OUTPUT_CHANNELS];

/// Source speakers, for the matrix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Src {
    Fl,
    Fr,
    Fc,
    Lfe,
    Bl,
    Br,
    Sl,
    Sr,
    Bc,
}

/// The speakers of a `channels`-channel sound, in file order.
fn source_speakers(channels: u16) -> &'static [Src] {
    use Src::*;
    match channels {
        3 => &[Fl, Fr, Fc],
        4 => &[Fl, Fr, Bl, Br],
        5 => &[Fl, Fr, Fc, Bl, Br],
        6 => &[Fl, Fr, Fc, Lfe, Bl, Br],
        7 => &[Fl, Fr, Fc, Lfe, Bc, Sl, Sr],
        8 => &[Fl, Fr, Fc, Lfe, Bl, Br, Sl, Sr],
        _ => &[],
    }
}

/// Builds the matrix for a sound of `channels` channels on `layout`.
fn build_matrix(channels: u16, layout: OutputLayout) -> Matrix {
    use OutputLayout::*;
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let rears = matches!(layout, Quad | Surround51 | Surround71);
    let centre = matches!(layout, Surround51 | Surround71);
    let sides = layout == Surround71;
    let mut m = [[0.0f32; MAX_OUTPUT_CHANNELS]; MAX_OUTPUT_CHANNELS];
    for (c, &sp) in source_speakers(channels).iter().enumerate() {
        let mut put = |plane: usize, g: f32| m[plane][c] += g;
        match sp {
            Src::Fl => put(0, 1.0),
            Src::Fr => put(1, 1.0),
            Src::Fc if centre => put(4, 1.0),
            Src::Fc => {
                put(0, h);
                put(1, h);
            }
            Src::Lfe if centre => put(5, 1.0),
            Src::Lfe => {}
            Src::Bl if rears => put(2, 1.0),
            Src::Bl => put(0, h),
            Src::Br if rears => put(3, 1.0),
            Src::Br => put(1, h),
            Src::Sl if sides => put(6, 1.0),
            Src::Sl if rears => put(2, 1.0),
            Src::Sl => put(0, h),
            Src::Sr if sides => put(7, 1.0),
            Src::Sr if rears => put(3, 1.0),
            Src::Sr => put(1, h),
            Src::Bc if rears => {
                put(2, h);
                put(3, h);
            }
            Src::Bc => {
                put(0, 0.5);
                put(1, 0.5);
            }
        }
    }
    m
}

const LAYOUTS: [OutputLayout; 5] = [
    OutputLayout::Mono,
    OutputLayout::Stereo,
    OutputLayout::Quad,
    OutputLayout::Surround51,
    OutputLayout::Surround71,
];

/// Every matrix, by source channel count (0 to 8) and layout.
static MATRICES: std::sync::OnceLock<[[Matrix; 5]; 9]> = std::sync::OnceLock::new();

fn matrices() -> &'static [[Matrix; 5]; 9] {
    MATRICES.get_or_init(|| {
        let mut t = [[[[0.0; MAX_OUTPUT_CHANNELS]; MAX_OUTPUT_CHANNELS]; 5]; 9];
        for (ch, row) in t.iter_mut().enumerate() {
            for (k, &layout) in LAYOUTS.iter().enumerate() {
                row[k] = build_matrix(ch as u16, layout);
            }
        }
        t
    })
}

/// Computes the matrix table now (call off the realtime thread).
pub(crate) fn init_matrices() {
    let _ = matrices();
}

impl OutputLayout {
    /// The matrix a sound of `source_channels` channels (3 to 8) goes
    /// through onto this layout's planes (see the module docs for the
    /// coefficients); all zero for other channel counts, which are panned.
    ///
    /// ```
    /// use pcmring::mixer::OutputLayout;
    /// let m = OutputLayout::Stereo.matrix(6); // FL FR FC LFE BL BR onto FL FR
    /// let h = std::f32::consts::FRAC_1_SQRT_2;
    /// assert_eq!(m[0][..6], [1.0, 0.0, h, 0.0, h, 0.0]);
    /// ```
    pub fn matrix(self, source_channels: u16) -> &'static Matrix {
        let k = LAYOUTS.iter().position(|&l| l == self).unwrap_or(1);
        &matrices()[(source_channels as usize).min(8)][k]
    }
}

/// Where a voice is placed: a stage pan or a direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Position {
    /// `-1` (FL) ..= `1` (FR) over the front stage.
    Pan(f32),
    /// A direction in degrees (0 ahead, positive to the right).
    Azimuth(f32),
}

/// `a` wrapped into `[-180, 180)`.
fn wrap_degrees(a: f32) -> f32 {
    let w = (a + 180.0).rem_euclid(360.0) - 180.0;
    if w >= 180.0 {
        -180.0
    } else {
        w
    }
}

/// The pan parameter word carries either a stage pan (`-1..=1`) or a
/// direction, encoded as `3 + azimuth / 180` (in `[2, 4)`).
pub(crate) fn encode_azimuth(degrees: f32) -> f32 {
    3.0 + wrap_degrees(degrees) / 180.0
}

/// Reads a pan word's value (see [`encode_azimuth`]).
pub(crate) fn decode_position(word: f32) -> Position {
    if word > 1.5 {
        Position::Azimuth((word - 3.0) * 180.0)
    } else {
        Position::Pan(word)
    }
}
