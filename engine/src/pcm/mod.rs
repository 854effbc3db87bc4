//! A full ALSA PCM opened by the engine itself, through raw ioctls and
//! mmap: open `hw:CARD,DEVICE[,SUBDEVICE]`, negotiate, map the ring and the
//! status/control pages (or fall back to SYNC_PTR), and drive the stream.
//!
//! ```no_run
//! use pcmring::pcm::{Config, Direction, Pcm};
//! use pcmring::Device;
//!
//! let mut pcm = Pcm::open("hw:Loopback,0", Direction::Playback, &Config::default())?;
//! println!("granted {:?} via {:?}", pcm.hw_config(), pcm.position_source());
//! pcm.prepare()?;
//! pcm.start()?;
//! let pos = pcm.position()?;
//! println!("hw_ptr {}", pos.hw_ptr);
//! # Ok::<(), pcmring::Error>(())
//! ```
//!
//! The fd is opened `O_NONBLOCK` and stays so: no operation here ever
//! sleeps in the kernel (a busy device fails at once with
//! [`Error::Busy`] instead of waiting), and callers wait for period
//! wake-ups with `poll()` on [`Device::poll_fd`].

mod control;
mod direction;
mod hw;
mod link;
mod list;
mod name;
mod ptr;
mod sw;
mechanism_mod!(
    /// Test signals and their search in recordings.
    verify
);

pub use direction::Direction;
pub use hw::HwConfig;
pub use hw::{BufferSize, Match};
pub use link::StartTogether;
pub use list::PcmDevice;
pub use name::CardRef;
pub use name::DeviceName;
pub use sw::{SwConfig, XrunMode};
// Diagnostics of how the PCM was set up and raw status readings, for the
// crate's own tests (their accessors on `Pcm` are hidden from the docs).
testing_use!(ptr::{ControlPath, Fallback, RawStatus, StatusPath});
testing_use!(sw::SwGranted);
testing_use!(control::{card_id, resolve_card_id, CardInfo});
testing_use!(hw::{alsa_format_name, HwParams, HwRequest});

use crate::device::{Device, HwPosition, PcmState, PositionSource};
use crate::error::DeviceError;
use crate::layout::{Format, StreamLayout};
use crate::ring::RingView;
use crate::sys::abi::*;
use crate::sys::ioctl::{ioctl_arg, ioctl_none};
use crate::sys::mmap::{Mapping, Protection};
use crate::wrap::to_raw;
use crate::{Error, Result, Step};
use control::Control;
use ptr::Pointers;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// What to open: hardware request, software parameters, pointer path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Sample format; `None`: the first of [`Format::ALL`] the device has.
    pub format: Option<Format>,
    /// Channels (exact).
    pub channels: u32,
    /// Rate in Hz.
    pub rate: u32,
    /// Nearest (default) or exact rate.
    pub rate_match: Match,
    /// Frames per period (nearest).
    pub period_size: u64,
    /// Ring size (nearest).
    pub buffer: BufferSize,
    /// Software parameters.
    pub sw: SwConfig,
    /// Use SYNC_PTR even where the status and control pages could be
    /// mapped (for tests and for comparing the paths).
    pub force_sync_ptr: bool,
}

impl Default for Config {
    /// Any engine format, stereo, 48 kHz, 4 periods of 1024 frames,
    /// free-running, monotonic timestamps, mapped pages where possible.
    fn default() -> Self {
        Config {
            format: None,
            channels: 2,
            rate: 48_000,
            rate_match: Match::Nearest,
            period_size: 1024,
            buffer: BufferSize::Periods(4),
            sw: SwConfig::default(),
            force_sync_ptr: false,
        }
    }
}

impl Config {
    fn hw_request(&self) -> HwRequest {
        HwRequest {
            format: self.format,
            channels: self.channels,
            rate: self.rate,
            rate_match: self.rate_match,
            period_size: self.period_size,
            buffer: self.buffer,
        }
    }
}

/// What INFO says about the opened substream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcmInfo {
    /// Card index.
    pub card: u32,
    /// Device number.
    pub device: u32,
    /// Subdevice number.
    pub subdevice: u32,
    /// PCM id.
    pub id: String,
    /// PCM name.
    pub name: String,
    /// Subdevice name.
    pub subname: String,
    /// Subdevices in this direction.
    pub subdevices_count: u32,
}

/// An open, configured PCM with its ring mapped.
#[derive(Debug)]
pub struct Pcm {
    name: String,
    direction: Direction,
    fd: Option<OwnedFd>,
    info: PcmInfo,
    protocol: u32,
    hw: HwConfig,
    sw: SwGranted,
    layout: StreamLayout,
    ptrs: Pointers,
    ring: RingView,
    ring_writable: bool,
    ring_map: Mapping,
}

fn page_round(n: usize) -> usize {
    let page = crate::status::page_size();
    n.div_ceil(page) * page
}

impl Pcm {
    /// Opens and configures `name` (`hw:CARD,DEVICE[,SUBDEVICE]`, CARD an
    /// index or a card id) for `direction`: HW_PARAMS, SW_PARAMS, mapped
    /// ring and pointers. The stream is left in the SETUP state; call
    /// [`Pcm::prepare`] and [`Pcm::start`].
    pub fn open(name: &str, direction: Direction, config: &Config) -> Result<Pcm> {
        let parsed = DeviceName::parse(name)?;
        let no_such = || Error::NoSuchDevice {
            device: name.to_owned(),
        };
        let card = match &parsed.card {
            CardRef::Index(i) => *i,
            CardRef::Id(id) => resolve_card_id(id).ok_or_else(no_such)?,
        };

        // A specific subdevice: tell the card, from this thread, before the open.
        let ctl = match parsed.subdevice {
            None => None,
            Some(sub) => {
                let ctl = Control::open(card).map_err(|e| Error::sys(name, Step::Open, e))?;
                match ctl.pcm_info(parsed.device, sub, direction.stream()) {
                    Ok(Some(_)) => {}
                    Ok(None) => return Err(no_such()),
                    Err(e) => return Err(Error::sys(name, Step::Info, e)),
                }
                ctl.prefer_subdevice(Some(sub))
                    .map_err(|e| Error::sys(name, Step::Open, e))?;
                Some(ctl)
            }
        };

        let path = format!(
            "{}/pcmC{card}D{}{}",
            control::DEV_SND,
            parsed.device,
            direction.node_suffix()
        );
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| Error::sys(name, Step::Open, e))?;
        drop(ctl);
        let fd = OwnedFd::from(file);

        let info = pcm_info(fd.as_fd()).map_err(|e| Error::sys(name, Step::Info, e))?;
        if let Some(sub) = parsed.subdevice {
            if info.subdevice != sub {
                return Err(Error::Busy {
                    device: name.to_owned(),
                });
            }
        }

        let protocol = handshake(fd.as_fd()).map_err(|e| Error::sys(name, Step::UserVersion, e))?;
        let hw = hw::negotiate(fd.as_fd(), name, &config.hw_request())?;
        let sw = sw::apply(fd.as_fd(), &config.sw, hw.buffer_size, hw.period_size)
            .map_err(|e| Error::sys(name, Step::SwParams, e))?;
        let ptrs = Pointers::setup(fd.as_fd(), hw.info, config.force_sync_ptr, sw.avail_min)
            .map_err(|(step, e)| Error::sys(name, step, e))?;

        let layout = StreamLayout {
            format: hw.format,
            channels: hw.channels,
            rate: hw.rate,
            period_size: hw.period_size,
            buffer_size: hw.buffer_size,
            boundary: sw.boundary,
        };
        let ring_bytes = layout.ring_bytes();
        let map_len = page_round(ring_bytes);
        let (ring_map, ring_writable) = match direction {
            Direction::Playback => (
                Mapping::new(
                    fd.as_fd(),
                    SNDRV_PCM_MMAP_OFFSET_DATA,
                    map_len,
                    Protection::ReadWrite,
                )
                .map_err(|e| Error::sys(name, Step::MapRing, e))?,
                true,
            ),
            Direction::Capture => {
                match Mapping::new(
                    fd.as_fd(),
                    SNDRV_PCM_MMAP_OFFSET_DATA,
                    map_len,
                    Protection::ReadWrite,
                ) {
                    Ok(m) => (m, true),
                    Err(_) => (
                        Mapping::new(
                            fd.as_fd(),
                            SNDRV_PCM_MMAP_OFFSET_DATA,
                            map_len,
                            Protection::ReadOnly,
                        )
                        .map_err(|e| Error::sys(name, Step::MapRing, e))?,
                        false,
                    ),
                }
            }
        };
        // SAFETY: the mapping is at least `ring_bytes` long and lives in
        // `self.ring_map` as long as the view (both are fields of Pcm and
        // the view is never handed out beyond `&self`). A read-only capture
        // mapping is flagged by `ring_writable`; Pcm never writes it.
        let ring = unsafe { RingView::new(ring_map.as_non_null(), ring_bytes) };

        Ok(Pcm {
            name: name.to_owned(),
            direction,
            fd: Some(fd),
            info,
            protocol,
            hw,
            sw,
            layout,
            ptrs,
            ring,
            ring_writable,
            ring_map,
        })
    }

    /// The name it was opened with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Playback or capture.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// What INFO reported.
    pub fn info(&self) -> &PcmInfo {
        &self.info
    }

    /// The kernel's PCM protocol version (PVERSION).
    pub fn kernel_protocol(&self) -> u32 {
        self.protocol
    }

    /// The granted hardware configuration.
    pub fn hw_config(&self) -> &HwConfig {
        &self.hw
    }

    /// The installed software parameters (with the boundary).
    #[doc(hidden)] // diagnostics for the tests; the type is public with `testing`
    pub fn sw_config(&self) -> &SwGranted {
        &self.sw
    }

    /// Bytes mapped for the data ring (the ring rounded up to pages).
    pub fn ring_mapping_len(&self) -> usize {
        self.ring_map.len()
    }

    /// Whether the data ring is mapped writable.
    pub fn ring_writable(&self) -> bool {
        self.ring_writable
    }

    /// How the status travels.
    #[doc(hidden)] // diagnostics for the tests; the type is public with `testing`
    pub fn status_path(&self) -> StatusPath {
        self.ptrs.status_path()
    }

    /// How appl_ptr travels.
    #[doc(hidden)] // diagnostics for the tests; the type is public with `testing`
    pub fn control_path(&self) -> ControlPath {
        self.ptrs.control_path()
    }

    /// Why a page is not mapped, if one is not.
    #[doc(hidden)] // diagnostics for the tests; the type is public with `testing`
    pub fn fallback(&self) -> Fallback {
        self.ptrs.fallback()
    }

    fn fd(&self) -> Result<BorrowedFd<'_>> {
        self.fd
            .as_ref()
            .map(|f| f.as_fd())
            .ok_or_else(|| Error::BadState {
                device: self.name.clone(),
                state: "closed".to_owned(),
            })
    }

    fn simple(&self, req: u32, step: Step) -> Result<()> {
        ioctl_none(self.fd()?, req).map_err(|e| Error::sys(&self.name, step, e))?;
        Ok(())
    }

    /// PREPARE: pointers to 0, ready to start.
    pub fn prepare(&mut self) -> Result<()> {
        self.simple(SNDRV_PCM_IOCTL_PREPARE, Step::Prepare)
    }

    /// START.
    pub fn start(&mut self) -> Result<()> {
        self.simple(SNDRV_PCM_IOCTL_START, Step::Start)
    }

    /// DROP: stop at once, discarding pending frames (state SETUP).
    pub fn drop_stream(&mut self) -> Result<()> {
        self.simple(SNDRV_PCM_IOCTL_DROP, Step::Drop)
    }

    /// HWSYNC: have the kernel refresh hw_ptr from the driver now.
    pub fn hwsync(&mut self) -> Result<()> {
        self.simple(SNDRV_PCM_IOCTL_HWSYNC, Step::Position)
    }

    /// The status as last published by the kernel (no refresh). Mapped
    /// path: no system call.
    #[doc(hidden)] // diagnostics for the tests; the type is public with `testing`
    pub fn status(&self) -> Result<RawStatus> {
        let fd = self.fd.as_ref().map(|f| f.as_fd());
        self.ptrs
            .status(fd, false)
            .map_err(|e| self.position_error(e))
    }

    /// The status after a refresh (HWSYNC, or SYNC_PTR with HWSYNC).
    #[doc(hidden)] // diagnostics for the tests; the type is public with `testing`
    pub fn status_synced(&self) -> Result<RawStatus> {
        let fd = self.fd.as_ref().map(|f| f.as_fd());
        self.ptrs
            .status(fd, true)
            .map_err(|e| self.position_error(e))
    }

    /// The status read through SYNC_PTR whatever the path in use (to
    /// compare the paths).
    #[doc(hidden)] // diagnostics for the tests; the type is public with `testing`
    pub fn status_via_sync_ptr(&self, hwsync: bool) -> Result<RawStatus> {
        let fd = self.fd()?;
        self.ptrs
            .sync_ptr_read(fd, hwsync)
            .map(|(s, _)| s)
            .map_err(|e| Error::sys(&self.name, Step::Position, e))
    }

    /// The realtime path's error for a failed position or pointer call
    /// (no allocation).
    fn device_error(&self, e: &io::Error) -> DeviceError {
        if self.fd.is_none() && e.raw_os_error() == Some(libc::EBADF) {
            return DeviceError::Closed;
        }
        DeviceError::sys(Step::Position, e)
    }

    fn position_error(&self, e: io::Error) -> Error {
        if self.fd.is_none() && e.raw_os_error() == Some(libc::EBADF) {
            return Error::BadState {
                device: self.name.clone(),
                state: "closed".to_owned(),
            };
        }
        Error::sys(&self.name, Step::Position, e)
    }

    /// The stream state.
    pub fn state(&self) -> Result<PcmState> {
        let st = self.status()?;
        PcmState::from_raw(st.state).ok_or_else(|| Error::BadState {
            device: self.name.clone(),
            state: format!("unknown state {}", st.state),
        })
    }

    /// The kernel's appl_ptr (raw, 0..boundary).
    pub fn appl_ptr(&self) -> Result<u64> {
        let fd = self.fd.as_ref().map(|f| f.as_fd());
        self.ptrs.appl_ptr(fd).map_err(|e| self.position_error(e))
    }

    /// Sets appl_ptr (raw, 0..boundary; larger values are reduced).
    pub fn set_appl_ptr(&mut self, raw: u64) -> Result<()> {
        let fd = self.fd.as_ref().map(|f| f.as_fd());
        self.ptrs
            .set_appl_ptr(fd, to_raw(raw, self.layout.boundary))
            .map_err(|e| self.position_error(e))
    }

    /// Frames available to the application, as ALSA counts them
    /// (playback: free space; capture: captured, unread frames). After a
    /// HWSYNC. A value above the buffer size means the hardware pointer
    /// overtook the application pointer (xrun, which a free-running stream
    /// does not stop on).
    pub fn avail(&self) -> Result<u64> {
        let hw = self.status_synced()?.hw_ptr;
        let appl = self.appl_ptr()?;
        Ok(alsa_avail(
            self.direction,
            hw,
            appl,
            self.layout.buffer_size,
            self.layout.boundary,
        ))
    }

    fn xrun_error(&self, avail: u64) -> Error {
        let lost = avail - self.layout.buffer_size;
        Error::BadState {
            device: self.name.clone(),
            state: match self.direction {
                Direction::Playback => {
                    format!("in underrun: hw_ptr passed appl_ptr by {lost} frames (set appl_ptr to resume)")
                }
                Direction::Capture => {
                    format!("in overrun: {lost} captured frames were overwritten (set appl_ptr to resume)")
                }
            },
        }
    }

    /// Copies whole frames into the ring starting at frame position `at`
    /// (any counter: taken modulo the buffer size), wrapping around.
    /// `bytes` must be a whole number of frames, at most the ring.
    pub fn write_ring(&mut self, at: u64, bytes: &[u8]) -> Result<()> {
        if !self.ring_writable {
            return Err(Error::BadState {
                device: self.name.clone(),
                state: "ring mapped read-only".to_owned(),
            });
        }
        self.check_frames(bytes.len())?;
        let (first, second) = self.split(at, bytes.len());
        // SAFETY: `split` keeps both ranges inside the ring; `&mut self`
        // guarantees no slice from `ring()` is alive, and by protocol the
        // hardware is not reading frames the caller is writing.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ring.as_ptr().add(first.0), first.1);
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(first.1), self.ring.as_ptr(), second);
        }
        Ok(())
    }

    /// Copies whole frames out of the ring from frame position `at`.
    pub fn read_ring(&self, at: u64, out: &mut [u8]) -> Result<()> {
        self.check_frames(out.len())?;
        let (first, second) = self.split(at, out.len());
        // SAFETY: both ranges are inside the ring (see `split`); `out` is a
        // separate buffer; by protocol the kernel is not writing the frames
        // being read (they are between appl_ptr and hw_ptr).
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ring.as_ptr().add(first.0),
                out.as_mut_ptr(),
                first.1,
            );
            std::ptr::copy_nonoverlapping(
                self.ring.as_ptr(),
                out.as_mut_ptr().add(first.1),
                second,
            );
        }
        Ok(())
    }

    fn check_frames(&self, len: usize) -> Result<()> {
        let fb = self.layout.frame_bytes();
        if fb == 0 || (len / fb) * fb != len || len > self.ring.len() {
            return Err(Error::Unsupported {
                device: self.name.clone(),
                what: format!(
                    "a transfer of {len} bytes (frames are {fb} bytes, the ring {})",
                    self.ring.len()
                ),
            });
        }
        Ok(())
    }

    /// Splits `len` bytes at frame `at` into `((offset, len), wrapped_len)`.
    fn split(&self, at: u64, len: usize) -> ((usize, usize), usize) {
        let fb = self.layout.frame_bytes();
        let buffer = self.layout.buffer_size.max(1);
        // `at % buffer` < buffer_size, so the product fits the ring length.
        let off = (at % buffer) as usize * fb;
        let first = len.min(self.ring.len() - off);
        ((off, first), len - first)
    }

    /// Playback: copies as many whole frames of `bytes` as fit at appl_ptr
    /// and advances appl_ptr. Returns the frames written. Fails with
    /// [`Error::BadState`] in an underrun.
    pub fn write_frames(&mut self, bytes: &[u8]) -> Result<usize> {
        let fb = self.layout.frame_bytes();
        let space = self.avail()?;
        if space > self.layout.buffer_size {
            return Err(self.xrun_error(space));
        }
        let frames = ((bytes.len() / fb) as u64).min(space) as usize;
        if frames == 0 {
            return Ok(0);
        }
        let appl = self.appl_ptr()?;
        self.write_ring(appl, &bytes[..frames * fb])?;
        self.set_appl_ptr(appl + frames as u64)?;
        Ok(frames)
    }

    /// Capture: copies as many whole captured frames as fit in `out` and
    /// advances appl_ptr past them. Returns the frames read. Fails with
    /// [`Error::BadState`] in an overrun.
    pub fn read_frames(&mut self, out: &mut [u8]) -> Result<usize> {
        let fb = self.layout.frame_bytes();
        let avail = self.avail()?;
        if avail > self.layout.buffer_size {
            return Err(self.xrun_error(avail));
        }
        let frames = ((out.len() / fb) as u64).min(avail) as usize;
        if frames == 0 {
            return Ok(0);
        }
        let appl = self.appl_ptr()?;
        self.read_ring(appl, &mut out[..frames * fb])?;
        self.set_appl_ptr(appl + frames as u64)?;
        Ok(frames)
    }

    /// LINK: puts `other` in this stream's group (both full fds); then
    /// PREPARE, START and DROP on either act on both.
    pub fn link(&self, other: &Pcm) -> Result<()> {
        link::link_fds(self.fd()?, other.fd()?).map_err(|e| Error::sys(&self.name, Step::Start, e))
    }

    /// UNLINK: takes this stream out of its group.
    pub fn unlink(&self) -> Result<()> {
        link::unlink_fd(self.fd()?).map_err(|e| Error::sys(&self.name, Step::Start, e))
    }

    /// The raw fd, if open.
    pub fn as_raw_fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(|f| f.as_raw_fd())
    }

    /// Closes the fd now. The mappings stay valid (the kernel keeps the
    /// stream alive while they exist), so a mapped status page still reads;
    /// every ioctl afterwards fails with [`Error::BadState`] ("closed").
    pub fn close(&mut self) {
        self.fd = None;
    }

    /// Prepares and starts this stream and `other` together (a duplex
    /// pair): linked if the kernel allows it (one PREPARE and one START
    /// through `self`), else prepared and started back to back
    /// ([`StartTogether::Unlinked`] says why).
    pub fn start_together(&mut self, other: &mut Pcm) -> Result<StartTogether> {
        match self.link(other) {
            Ok(()) => {
                self.prepare()?;
                self.start()?;
                Ok(StartTogether::Linked)
            }
            Err(e) => {
                let reason = e.to_string();
                self.prepare()?;
                other.prepare()?;
                self.start()?;
                other.start()?;
                Ok(StartTogether::Unlinked { reason })
            }
        }
    }
}

/// ALSA's `avail` from raw pointers: playback `hw + buffer - appl`,
/// capture `hw - appl`, both modulo `boundary`. More than `buffer` means
/// an underrun (playback) or overrun (capture).
pub(crate) fn alsa_avail(
    direction: Direction,
    hw: u64,
    appl: u64,
    buffer: u64,
    boundary: u64,
) -> u64 {
    let b = i128::from(boundary.max(1));
    let (hw, appl) = (i128::from(hw), i128::from(appl));
    let a = match direction {
        Direction::Playback => hw + i128::from(buffer) - appl,
        Direction::Capture => hw - appl,
    };
    // rem_euclid lands in 0..boundary, which fits u64.
    a.rem_euclid(b) as u64
}

fn pcm_info(fd: BorrowedFd<'_>) -> io::Result<PcmInfo> {
    let mut info = SndPcmInfo::zeroed();
    // SAFETY: INFO transfers a `snd_pcm_info`, which SndPcmInfo mirrors
    // (checked by tests/abi_layout.rs).
    unsafe { ioctl_arg(fd, SNDRV_PCM_IOCTL_INFO, &mut info)? };
    Ok(PcmInfo {
        card: u32::try_from(info.card).unwrap_or(u32::MAX),
        device: info.device,
        subdevice: info.subdevice,
        id: c_str(&info.id),
        name: c_str(&info.name),
        subname: c_str(&info.subname),
        subdevices_count: info.subdevices_count,
    })
}

/// PVERSION, then USER_PVERSION with the version this mirror speaks (it
/// unlocks the status/control mmap for SYNC_APPLPTR drivers). Kernels
/// without USER_PVERSION (before 2.0.14) answer ENOTTY: fine.
fn handshake(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut kernel: i32 = 0;
    // SAFETY: PVERSION writes one int.
    unsafe { ioctl_arg(fd, SNDRV_PCM_IOCTL_PVERSION, &mut kernel)? };
    let mut ours = SNDRV_PCM_VERSION as i32;
    // SAFETY: USER_PVERSION reads one int.
    match unsafe { ioctl_arg(fd, SNDRV_PCM_IOCTL_USER_PVERSION, &mut ours) } {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => {}
        Err(e) => return Err(e),
    }
    Ok(u32::try_from(kernel).unwrap_or(0))
}

impl Device for Pcm {
    fn layout(&self) -> StreamLayout {
        self.layout
    }

    fn ring(&self) -> &RingView {
        &self.ring
    }

    fn position(&mut self) -> std::result::Result<HwPosition, DeviceError> {
        let fd = self.fd.as_ref().map(|f| f.as_fd());
        let st = self
            .ptrs
            .status(fd, true)
            .map_err(|e| self.device_error(&e))?;
        st.position()
    }

    fn peek_position(&mut self) -> Option<std::result::Result<HwPosition, DeviceError>> {
        let st = self.ptrs.read_status_page()?;
        Some(
            st.map_err(|e| self.device_error(&e))
                .and_then(|st| st.position()),
        )
    }

    fn position_source(&self) -> PositionSource {
        match self.ptrs.status_path() {
            StatusPath::Mapped => PositionSource::StatusPage,
            StatusPath::SyncPtr => PositionSource::SyncPtrIoctl,
        }
    }

    fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd())
    }

    fn is_batch(&self) -> bool {
        self.hw.is_batch()
    }

    fn ring_identity(&self) -> Option<crate::device::RingIdentity> {
        let i = self.info();
        Some(crate::device::RingIdentity::Pcm {
            card: i.card,
            device: i.device,
            subdevice: i.subdevice,
        })
    }

    fn commit(&mut self, appl_frames: u64) -> std::result::Result<(), DeviceError> {
        let fd = self.fd.as_ref().map(|f| f.as_fd());
        self.ptrs
            .set_appl_ptr(fd, to_raw(appl_frames, self.layout.boundary))
            .map_err(|e| self.device_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avail_like_alsa() {
        let (buf, b) = (1024, 1024 << 10);
        let p = Direction::Playback;
        let c = Direction::Capture;
        assert_eq!(alsa_avail(p, 0, 0, buf, b), 1024, "empty ring: all free");
        assert_eq!(alsa_avail(p, 0, 1024, buf, b), 0, "full ring");
        assert_eq!(alsa_avail(p, 100, 1000, buf, b), 124);
        assert_eq!(
            alsa_avail(p, 1100, 1000, buf, b),
            1124,
            "underrun shows as > buffer"
        );
        assert_eq!(
            alsa_avail(p, 10, b - 20, buf, b),
            1054,
            "hw passed appl by 30 across the wrap"
        );
        assert_eq!(
            alsa_avail(p, b - 20, 10, buf, b),
            994,
            "30 queued across the wrap"
        );
        assert_eq!(alsa_avail(c, 500, 100, buf, b), 400);
        assert_eq!(alsa_avail(c, 5, b - 5, buf, b), 10, "across the wrap");
        assert_eq!(
            alsa_avail(c, 2000, 100, buf, b),
            1900,
            "overrun shows as > buffer"
        );
    }
}
