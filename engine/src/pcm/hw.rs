//! Hardware parameter negotiation: HW_REFINE round trips with "nearest"
//! semantics, then HW_PARAMS.
//!
//! "Nearest" works like a user expects: the exact value if the device can
//! do it (given everything chosen before), else the closest value the
//! device allows; on a tie the larger value wins. Parameters are chosen in
//! this order: access (MMAP_INTERLEAVED), format, subformat (STD), channels
//! (exact), rate, period size, then period count or buffer size.

use crate::layout::Format;
use crate::sys::abi::*;
use crate::sys::ioctl::ioctl_arg;
use crate::{Error, Result, Step};
use std::io;
use std::os::fd::BorrowedFd;

/// How strictly to match the requested rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Match {
    /// The closest rate the device allows.
    #[default]
    Nearest,
    /// Exactly the requested rate, else [`Error::Unsupported`].
    Exact,
}

/// How to size the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferSize {
    /// This many periods (nearest).
    Periods(u32),
    /// This many frames (nearest).
    Frames(u64),
}

/// What to ask of the hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwRequest {
    /// A sample format, or `None` for the first of [`Format::ALL`] the
    /// device offers.
    pub format: Option<Format>,
    /// Channels (exact).
    pub channels: u32,
    /// Frames per second.
    pub rate: u32,
    /// How to match `rate`.
    pub rate_match: Match,
    /// Frames per period (nearest).
    pub period_size: u64,
    /// Ring size (nearest).
    pub buffer: BufferSize,
}

/// What the kernel actually granted (read back from HW_PARAMS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwConfig {
    /// Sample format.
    pub format: Format,
    /// Channels.
    pub channels: u32,
    /// Rate in Hz (rounded: see `rate_num`/`rate_den`).
    pub rate: u32,
    /// Exact rate numerator.
    pub rate_num: u32,
    /// Exact rate denominator.
    pub rate_den: u32,
    /// Frames per period.
    pub period_size: u64,
    /// Periods in the ring.
    pub periods: u32,
    /// Frames in the ring.
    pub buffer_size: u64,
    /// Significant bits per sample.
    pub msbits: u32,
    /// `SNDRV_PCM_INFO_*` flags of this configuration.
    pub info: u32,
}

impl HwConfig {
    /// Whether the position moves in whole periods (INFO_BATCH).
    pub const fn is_batch(&self) -> bool {
        self.info & SNDRV_PCM_INFO_BATCH != 0
    }

    /// Bytes per frame.
    pub const fn frame_bytes(&self) -> usize {
        self.format.sample_bytes() * self.channels as usize
    }
}

/// A `snd_pcm_hw_params` with helpers for masks and intervals.
#[derive(Clone, Copy)]
pub struct HwParams {
    raw: SndPcmHwParams,
}

impl std::fmt::Debug for HwParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("HwParams");
        d.field("formats", &self.formats());
        for (name, p) in [
            ("channels", SNDRV_PCM_HW_PARAM_CHANNELS),
            ("rate", SNDRV_PCM_HW_PARAM_RATE),
            ("period_size", SNDRV_PCM_HW_PARAM_PERIOD_SIZE),
            ("periods", SNDRV_PCM_HW_PARAM_PERIODS),
            ("buffer_size", SNDRV_PCM_HW_PARAM_BUFFER_SIZE),
        ] {
            d.field(name, &self.range(p));
        }
        d.finish()
    }
}

impl HwParams {
    /// The fully open space: the first 64 bits of every mask set (all the
    /// values the uapi defines, as alsa-lib does), every interval
    /// 0..=u32::MAX.
    pub fn any() -> Self {
        let mut raw = SndPcmHwParams::zeroed();
        for m in raw.masks.iter_mut() {
            m.bits = [u32::MAX, u32::MAX, 0, 0, 0, 0, 0, 0];
        }
        for i in raw.intervals.iter_mut() {
            *i = SndInterval {
                min: 0,
                max: u32::MAX,
                flags: 0,
            };
        }
        raw.rmask = u32::MAX;
        raw.info = u32::MAX;
        Self { raw }
    }

    /// The raw structure.
    pub fn raw(&self) -> &SndPcmHwParams {
        &self.raw
    }

    fn mask(&self, p: usize) -> &SndMask {
        &self.raw.masks[p - SNDRV_PCM_HW_PARAM_FIRST_MASK]
    }

    fn mask_mut(&mut self, p: usize) -> &mut SndMask {
        &mut self.raw.masks[p - SNDRV_PCM_HW_PARAM_FIRST_MASK]
    }

    fn interval(&self, p: usize) -> &SndInterval {
        &self.raw.intervals[p - SNDRV_PCM_HW_PARAM_FIRST_INTERVAL]
    }

    fn interval_mut(&mut self, p: usize) -> &mut SndInterval {
        &mut self.raw.intervals[p - SNDRV_PCM_HW_PARAM_FIRST_INTERVAL]
    }

    /// Whether mask parameter `p` allows value `v`.
    pub fn mask_has(&self, p: usize, v: u32) -> bool {
        let v = v as usize;
        v < SNDRV_MASK_MAX && self.mask(p).bits[v / 32] & (1 << (v % 32)) != 0
    }

    /// Restricts mask parameter `p` to the single value `v`.
    pub fn set_mask(&mut self, p: usize, v: u32) {
        let m = self.mask_mut(p);
        m.bits = [0; 8];
        let v = v as usize;
        if v < SNDRV_MASK_MAX {
            m.bits[v / 32] = 1 << (v % 32);
        }
    }

    /// The values mask parameter `p` allows.
    pub fn mask_values(&self, p: usize) -> Vec<u32> {
        (0..SNDRV_MASK_MAX as u32)
            .filter(|&v| self.mask_has(p, v))
            .collect()
    }

    /// The sample formats still allowed, as ALSA numbers (only those the
    /// uapi defines).
    pub fn formats(&self) -> Vec<u32> {
        let mut f = self.mask_values(SNDRV_PCM_HW_PARAM_FORMAT);
        f.retain(|&v| v <= SNDRV_PCM_FORMAT_LAST);
        f
    }

    /// The integer values interval parameter `p` allows, as `(lo, hi)`
    /// with open ends resolved; `None` if empty.
    pub fn range(&self, p: usize) -> Option<(u32, u32)> {
        let i = self.interval(p);
        if i.flags & SndInterval::EMPTY != 0 {
            return None;
        }
        let lo = if i.flags & SndInterval::OPENMIN != 0 {
            i.min.checked_add(1)?
        } else {
            i.min
        };
        let hi = if i.flags & SndInterval::OPENMAX != 0 {
            i.max.checked_sub(1)?
        } else {
            i.max
        };
        (lo <= hi).then_some((lo, hi))
    }

    /// Restricts interval `p` to exactly `v`.
    pub fn set_exact(&mut self, p: usize, v: u32) {
        *self.interval_mut(p) = SndInterval {
            min: v,
            max: v,
            flags: SndInterval::INTEGER,
        };
    }

    /// Restricts interval `p` to `>= v`.
    pub fn set_min(&mut self, p: usize, v: u32) {
        let i = self.interval_mut(p);
        if i.min < v || (i.min == v && i.flags & SndInterval::OPENMIN != 0) {
            i.min = v;
            i.flags &= !SndInterval::OPENMIN;
        }
    }

    /// Restricts interval `p` to `<= v`.
    pub fn set_max(&mut self, p: usize, v: u32) {
        let i = self.interval_mut(p);
        if i.max > v || (i.max == v && i.flags & SndInterval::OPENMAX != 0) {
            i.max = v;
            i.flags &= !SndInterval::OPENMAX;
        }
    }

    /// The single value of interval `p`, if it has exactly one.
    pub fn single(&self, p: usize) -> Option<u32> {
        self.range(p).and_then(|(lo, hi)| (lo == hi).then_some(lo))
    }

    /// HW_REFINE on all parameters.
    pub fn refine(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.raw.rmask = u32::MAX;
        self.raw.cmask = 0;
        // SAFETY: HW_REFINE transfers a `snd_pcm_hw_params`, which
        // SndPcmHwParams mirrors (checked by tests/abi_layout.rs).
        unsafe { ioctl_arg(fd, SNDRV_PCM_IOCTL_HW_REFINE, &mut self.raw)? };
        Ok(())
    }

    /// HW_PARAMS: installs the configuration; the kernel writes back the
    /// values it chose.
    pub fn install(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.raw.rmask = u32::MAX;
        self.raw.cmask = 0;
        // SAFETY: HW_PARAMS transfers a `snd_pcm_hw_params`, mirrored by
        // SndPcmHwParams (checked by tests/abi_layout.rs).
        unsafe { ioctl_arg(fd, SNDRV_PCM_IOCTL_HW_PARAMS, &mut self.raw)? };
        Ok(())
    }

    /// Refines a copy with `f` applied; `Ok(None)` if the device cannot
    /// do it (EINVAL), other errors pass through.
    fn try_refine(
        &self,
        fd: BorrowedFd<'_>,
        f: impl FnOnce(&mut HwParams),
    ) -> io::Result<Option<HwParams>> {
        let mut t = *self;
        f(&mut t);
        match t.refine(fd) {
            Ok(()) => Ok(Some(t)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets interval `p` to `target` if possible, else to the nearest
    /// value the device allows (ties: the larger). Returns the value, or
    /// `None` if the space is empty.
    pub fn set_near(
        &mut self,
        fd: BorrowedFd<'_>,
        p: usize,
        target: u32,
    ) -> io::Result<Option<u32>> {
        if let Some(t) = self.try_refine(fd, |h| h.set_exact(p, target))? {
            *self = t;
            return Ok(Some(target));
        }
        let above = match target.checked_add(1) {
            Some(from) => self.first_from(fd, p, from)?,
            None => None,
        };
        let below = match target.checked_sub(1) {
            Some(to) => self.last_to(fd, p, to)?,
            None => None,
        };
        let pick = match (below, above) {
            (Some(b), Some(a)) => {
                if u64::from(target - b.0) < u64::from(a.0 - target) {
                    Some(b)
                } else {
                    Some(a)
                }
            }
            (b, a) => a.or(b),
        };
        Ok(pick.map(|(v, t)| {
            *self = t;
            v
        }))
    }

    /// The smallest achievable value of `p` that is `>= from`, with the
    /// space pinned to it.
    fn first_from(
        &self,
        fd: BorrowedFd<'_>,
        p: usize,
        from: u32,
    ) -> io::Result<Option<(u32, HwParams)>> {
        let mut from = from;
        for _ in 0..64 {
            let Some(space) = self.try_refine(fd, |h| h.set_min(p, from))? else {
                return Ok(None);
            };
            let Some((lo, _)) = space.range(p) else {
                return Ok(None);
            };
            if let Some(t) = space.try_refine(fd, |h| h.set_exact(p, lo))? {
                return Ok(Some((lo, t)));
            }
            match lo.checked_add(1) {
                Some(n) => from = n,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The largest achievable value of `p` that is `<= to`, with the space
    /// pinned to it.
    fn last_to(
        &self,
        fd: BorrowedFd<'_>,
        p: usize,
        to: u32,
    ) -> io::Result<Option<(u32, HwParams)>> {
        let mut to = to;
        for _ in 0..64 {
            let Some(space) = self.try_refine(fd, |h| h.set_max(p, to))? else {
                return Ok(None);
            };
            let Some((_, hi)) = space.range(p) else {
                return Ok(None);
            };
            if let Some(t) = space.try_refine(fd, |h| h.set_exact(p, hi))? {
                return Ok(Some((hi, t)));
            }
            match hi.checked_sub(1) {
                Some(n) => to = n,
                None => return Ok(None),
            }
        }
        Ok(None)
    }
}

/// ALSA's name for format number `n`.
pub fn alsa_format_name(n: u32) -> String {
    const NAMES: [&str; 53] = [
        "S8",
        "U8",
        "S16_LE",
        "S16_BE",
        "U16_LE",
        "U16_BE",
        "S24_LE",
        "S24_BE",
        "U24_LE",
        "U24_BE",
        "S32_LE",
        "S32_BE",
        "U32_LE",
        "U32_BE",
        "FLOAT_LE",
        "FLOAT_BE",
        "FLOAT64_LE",
        "FLOAT64_BE",
        "IEC958_SUBFRAME_LE",
        "IEC958_SUBFRAME_BE",
        "MU_LAW",
        "A_LAW",
        "IMA_ADPCM",
        "MPEG",
        "GSM",
        "S20_LE",
        "S20_BE",
        "U20_LE",
        "U20_BE",
        "#29",
        "#30",
        "SPECIAL",
        "S24_3LE",
        "S24_3BE",
        "U24_3LE",
        "U24_3BE",
        "S20_3LE",
        "S20_3BE",
        "U20_3LE",
        "U20_3BE",
        "S18_3LE",
        "S18_3BE",
        "U18_3LE",
        "U18_3BE",
        "G723_24",
        "G723_24_1B",
        "G723_40",
        "G723_40_1B",
        "DSD_U8",
        "DSD_U16_LE",
        "DSD_U32_LE",
        "DSD_U16_BE",
        "DSD_U32_BE",
    ];
    NAMES
        .get(n as usize)
        .map_or_else(|| format!("#{n}"), |s| (*s).to_owned())
}

fn range_text(r: Option<(u32, u32)>) -> String {
    match r {
        None => "nothing".to_owned(),
        Some((lo, hi)) if lo == hi => lo.to_string(),
        Some((lo, hi)) => format!("{lo}..={hi}"),
    }
}

/// Negotiates `req` on an open PCM and installs it with HW_PARAMS.
pub fn negotiate(fd: BorrowedFd<'_>, device: &str, req: &HwRequest) -> Result<HwConfig> {
    let unsupported = |what: String| Error::Unsupported {
        device: device.to_owned(),
        what,
    };
    let sys = |step, e| Error::sys(device, step, e);
    if req.channels == 0 || req.rate == 0 || req.period_size == 0 {
        return Err(unsupported(format!(
            "{} channels at {} Hz with {}-frame periods (all must be non-zero)",
            req.channels, req.rate, req.period_size
        )));
    }
    let mut hw = HwParams::any();
    hw.refine(fd).map_err(|e| sys(Step::HwRefine, e))?;

    // Access.
    if !hw.mask_has(SNDRV_PCM_HW_PARAM_ACCESS, SNDRV_PCM_ACCESS_MMAP_INTERLEAVED) {
        return Err(unsupported(
            "mmap interleaved access (the device offers no mmap)".into(),
        ));
    }
    hw.set_mask(SNDRV_PCM_HW_PARAM_ACCESS, SNDRV_PCM_ACCESS_MMAP_INTERLEAVED);
    hw.refine(fd).map_err(|e| sys(Step::HwRefine, e))?;

    // Format.
    let offered = hw.formats();
    let offered_text = || {
        offered
            .iter()
            .map(|&f| alsa_format_name(f))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let format = match req.format {
        Some(f) => {
            if !hw.mask_has(SNDRV_PCM_HW_PARAM_FORMAT, f.alsa() as u32) {
                return Err(unsupported(format!(
                    "format {f}; the device offers {}",
                    offered_text()
                )));
            }
            f
        }
        None => Format::ALL
            .into_iter()
            .find(|f| hw.mask_has(SNDRV_PCM_HW_PARAM_FORMAT, f.alsa() as u32))
            .ok_or_else(|| {
                unsupported(format!(
                    "any engine format ({}); the device offers {}",
                    Format::ALL.map(|f| f.name()).join(", "),
                    offered_text()
                ))
            })?,
    };
    hw.set_mask(SNDRV_PCM_HW_PARAM_FORMAT, format.alsa() as u32);
    hw.set_mask(SNDRV_PCM_HW_PARAM_SUBFORMAT, SNDRV_PCM_SUBFORMAT_STD);
    hw.refine(fd).map_err(|e| sys(Step::HwRefine, e))?;

    // Channels: exact.
    let ch_range = hw.range(SNDRV_PCM_HW_PARAM_CHANNELS);
    hw = hw
        .try_refine(fd, |h| {
            h.set_exact(SNDRV_PCM_HW_PARAM_CHANNELS, req.channels)
        })
        .map_err(|e| sys(Step::HwRefine, e))?
        .ok_or_else(|| {
            unsupported(format!(
                "{} channels with {format}; the device allows {}",
                req.channels,
                range_text(ch_range)
            ))
        })?;

    // Rate.
    let rate_range = hw.range(SNDRV_PCM_HW_PARAM_RATE);
    let no_rate = || {
        unsupported(format!(
            "rate {} Hz; the device allows {} Hz",
            req.rate,
            range_text(rate_range)
        ))
    };
    match req.rate_match {
        Match::Exact => {
            hw = hw
                .try_refine(fd, |h| h.set_exact(SNDRV_PCM_HW_PARAM_RATE, req.rate))
                .map_err(|e| sys(Step::HwRefine, e))?
                .ok_or_else(no_rate)?;
        }
        Match::Nearest => {
            hw.set_near(fd, SNDRV_PCM_HW_PARAM_RATE, req.rate)
                .map_err(|e| sys(Step::HwRefine, e))?
                .ok_or_else(no_rate)?;
        }
    }

    // Period size.
    let period_range = hw.range(SNDRV_PCM_HW_PARAM_PERIOD_SIZE);
    let period = u32::try_from(req.period_size).unwrap_or(u32::MAX);
    hw.set_near(fd, SNDRV_PCM_HW_PARAM_PERIOD_SIZE, period)
        .map_err(|e| sys(Step::HwRefine, e))?
        .ok_or_else(|| {
            unsupported(format!(
                "period of {} frames; the device allows {}",
                req.period_size,
                range_text(period_range)
            ))
        })?;

    // Periods or buffer size.
    let (p, target, what) = match req.buffer {
        BufferSize::Periods(n) => (SNDRV_PCM_HW_PARAM_PERIODS, n, "periods"),
        BufferSize::Frames(n) => (
            SNDRV_PCM_HW_PARAM_BUFFER_SIZE,
            u32::try_from(n).unwrap_or(u32::MAX),
            "buffer frames",
        ),
    };
    let allowed = hw.range(p);
    hw.set_near(fd, p, target)
        .map_err(|e| sys(Step::HwRefine, e))?
        .ok_or_else(|| {
            unsupported(format!(
                "{target} {what}; the device allows {}",
                range_text(allowed)
            ))
        })?;

    hw.install(fd).map_err(|e| sys(Step::HwParams, e))?;
    let mut config = granted(&hw).ok_or_else(|| {
        Error::sys(
            device,
            Step::HwParams,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("HW_PARAMS left parameters unset: {hw:?}"),
            ),
        )
    })?;
    config.rate =
        clock_rate(req, config.rate, config.rate_num, config.rate_den).map_err(unsupported)?;
    Ok(config)
}

/// The rate the device's clock really runs at, from the exact fraction
/// HW_PARAMS returns (`rate_num / rate_den`). The RATE interval is in
/// whole hertz and a divider-clocked card can accept a rate it cannot
/// make: snd-ens1370 takes "48000" and plays 1411200/29 = 48662.07 Hz.
/// An exact request fails unless the clock is exactly that rate; a
/// nearest one reports the clock's rate (rounded), so that everything
/// timed from it (position model, resampling) is right.
fn clock_rate(
    req: &HwRequest,
    granted: u32,
    num: u32,
    den: u32,
) -> std::result::Result<u32, String> {
    let is = |rate: u32| u64::from(num) == u64::from(rate) * u64::from(den);
    if den == 0 || is(granted) {
        return Ok(granted);
    }
    let real = f64::from(num) / f64::from(den);
    match req.rate_match {
        Match::Exact if !is(req.rate) => Err(format!(
            "rate {} Hz exactly; the device's clock gives {num}/{den} = {real:.2} Hz",
            req.rate
        )),
        _ => Ok(real.round() as u32),
    }
}

/// Reads the granted configuration out of an installed parameter set.
fn granted(hw: &HwParams) -> Option<HwConfig> {
    let formats = hw.formats();
    let format = match formats.as_slice() {
        [f] => Format::from_alsa(i32::try_from(*f).ok()?)?,
        _ => return None,
    };
    let rate = hw.single(SNDRV_PCM_HW_PARAM_RATE)?;
    let raw = hw.raw();
    let (rate_num, rate_den) = if raw.rate_den != 0 {
        (raw.rate_num, raw.rate_den)
    } else {
        (rate, 1)
    };
    Some(HwConfig {
        format,
        channels: hw.single(SNDRV_PCM_HW_PARAM_CHANNELS)?,
        rate,
        rate_num,
        rate_den,
        period_size: u64::from(hw.single(SNDRV_PCM_HW_PARAM_PERIOD_SIZE)?),
        periods: hw.single(SNDRV_PCM_HW_PARAM_PERIODS)?,
        buffer_size: u64::from(hw.single(SNDRV_PCM_HW_PARAM_BUFFER_SIZE)?),
        msbits: raw.msbits,
        info: raw.info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_rate_is_what_counts() {
        let req = |rate_match| HwRequest {
            format: None,
            channels: 2,
            rate: 48_000,
            rate_match,
            period_size: 1024,
            buffer: BufferSize::Periods(4),
        };
        // snd-ens1370's DAC2: 1411200 / divider.
        assert!(clock_rate(&req(Match::Exact), 48_000, 1_411_200, 29).is_err());
        assert_eq!(
            clock_rate(&req(Match::Nearest), 48_000, 1_411_200, 29),
            Ok(48_662)
        );
        let r44 = HwRequest {
            rate: 44_100,
            ..req(Match::Exact)
        };
        assert_eq!(clock_rate(&r44, 44_100, 1_411_200, 32), Ok(44_100));
        assert_eq!(
            clock_rate(&req(Match::Exact), 48_000, 48_000, 1),
            Ok(48_000)
        );
        assert_eq!(clock_rate(&req(Match::Exact), 48_000, 0, 0), Ok(48_000));
    }

    #[test]
    fn any_is_fully_open() {
        let hw = HwParams::any();
        assert!(hw.mask_has(SNDRV_PCM_HW_PARAM_FORMAT, SNDRV_PCM_FORMAT_LAST));
        assert!(!hw.mask_has(SNDRV_PCM_HW_PARAM_FORMAT, 64));
        assert_eq!(hw.formats().len(), SNDRV_PCM_FORMAT_LAST as usize + 1);
        assert_eq!(hw.range(SNDRV_PCM_HW_PARAM_RATE), Some((0, u32::MAX)));
        assert_eq!(hw.raw().rmask, u32::MAX);
    }

    #[test]
    fn masks_and_intervals() {
        let mut hw = HwParams::any();
        hw.set_mask(SNDRV_PCM_HW_PARAM_FORMAT, SNDRV_PCM_FORMAT_S24_3LE);
        assert_eq!(hw.formats(), vec![SNDRV_PCM_FORMAT_S24_3LE]);
        hw.set_min(SNDRV_PCM_HW_PARAM_RATE, 8000);
        hw.set_max(SNDRV_PCM_HW_PARAM_RATE, 48000);
        assert_eq!(hw.range(SNDRV_PCM_HW_PARAM_RATE), Some((8000, 48000)));
        assert_eq!(hw.single(SNDRV_PCM_HW_PARAM_RATE), None);
        hw.set_exact(SNDRV_PCM_HW_PARAM_RATE, 44100);
        assert_eq!(hw.single(SNDRV_PCM_HW_PARAM_RATE), Some(44100));
    }

    #[test]
    fn open_bounds_are_resolved() {
        let mut hw = HwParams::any();
        let i = hw.interval_mut(SNDRV_PCM_HW_PARAM_PERIOD_SIZE);
        *i = SndInterval {
            min: 10,
            max: 20,
            flags: SndInterval::OPENMIN | SndInterval::OPENMAX,
        };
        assert_eq!(hw.range(SNDRV_PCM_HW_PARAM_PERIOD_SIZE), Some((11, 19)));
        let i = hw.interval_mut(SNDRV_PCM_HW_PARAM_PERIOD_SIZE);
        i.flags = SndInterval::EMPTY;
        assert_eq!(hw.range(SNDRV_PCM_HW_PARAM_PERIOD_SIZE), None);
    }

    #[test]
    fn format_names() {
        assert_eq!(alsa_format_name(SNDRV_PCM_FORMAT_S24_3LE), "S24_3LE");
        assert_eq!(alsa_format_name(SNDRV_PCM_FORMAT_FLOAT_LE), "FLOAT_LE");
        assert_eq!(alsa_format_name(200), "#200");
    }
}
