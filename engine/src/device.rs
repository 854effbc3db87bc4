//! What every device gives the writer: a mapped ring, its layout, and the
//! hardware position. Implemented by the full [`crate::Pcm`], the
//! restricted buffer-mode PCM and the simulated device.

use crate::error::DeviceError;
use crate::layout::StreamLayout;
use crate::ring::RingView;
use std::os::fd::BorrowedFd;

/// Stream state, with the values of ALSA's `SNDRV_PCM_STATE_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum PcmState {
    /// Opened, not configured.
    Open = 0,
    /// Configured (hw_params done), stopped.
    Setup = 1,
    /// Prepared, ready to start.
    Prepared = 2,
    /// Running.
    Running = 3,
    /// Stopped by an underrun or overrun.
    Xrun = 4,
    /// Draining.
    Draining = 5,
    /// Paused.
    Paused = 6,
    /// Suspended by power management.
    Suspended = 7,
    /// The device went away.
    Disconnected = 8,
}

impl PcmState {
    /// The state for an ALSA state number; unknown numbers map to `None`.
    pub const fn from_raw(n: i32) -> Option<PcmState> {
        Some(match n {
            0 => PcmState::Open,
            1 => PcmState::Setup,
            2 => PcmState::Prepared,
            3 => PcmState::Running,
            4 => PcmState::Xrun,
            5 => PcmState::Draining,
            6 => PcmState::Paused,
            7 => PcmState::Suspended,
            8 => PcmState::Disconnected,
            _ => return None,
        })
    }
}

/// One consistent reading of the hardware position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwPosition {
    /// Stream state at the time of the reading.
    pub state: PcmState,
    /// The hardware pointer as the kernel keeps it: frames, wrapping at
    /// [`StreamLayout::boundary`].
    pub hw_ptr: u64,
    /// CLOCK_MONOTONIC time of the last `hw_ptr` update, in nanoseconds
    /// (0 if the device does not timestamp).
    pub tstamp_ns: u64,
    /// The driver's audio timestamp in nanoseconds (0 if not provided).
    pub audio_tstamp_ns: u64,
}

/// How a device delivers its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionSource {
    /// The kernel's status page, mapped read-only.
    StatusPage,
    /// The SYNC_PTR ioctl (full fd, status page not mappable).
    SyncPtrIoctl,
    /// The anondup module's POSITION ioctl (restricted fd).
    PositionIoctl,
    /// The simulated device's shared status page.
    Simulated,
}

/// A playback or capture ring the engine can write (or read) directly.
///
/// All methods are realtime-safe after construction: no allocation, no
/// locks; `position` may make one non-blocking ioctl. Errors are the
/// `Copy` [`DeviceError`], so failing allocates nothing either.
///
/// `Box<D>` (also `Box<dyn Device>`) and `&mut D` are devices too, so a
/// program that picks its device at run time needs no forwarding enum.
pub trait Device: Send {
    /// Geometry of the stream.
    fn layout(&self) -> StreamLayout;
    /// The mapped data ring.
    fn ring(&self) -> &RingView;
    /// Refreshes and reads the hardware position (a syscall: HWSYNC,
    /// SYNC_PTR or POSITION; the sim counts them).
    fn position(&mut self) -> Result<HwPosition, DeviceError>;
    /// Reads the position as the kernel last published it on the mapped
    /// status page, **without a syscall**: stale between period
    /// interrupts (the engine extrapolates it with its position model and
    /// calls [`Device::position`] when the model needs fresh evidence).
    /// `None` when the device has no mapped page.
    fn peek_position(&mut self) -> Option<Result<HwPosition, DeviceError>> {
        None
    }
    /// Where [`Device::position`] comes from.
    fn position_source(&self) -> PositionSource;
    /// The fd to poll for period wake-ups, if the device has one.
    fn poll_fd(&self) -> Option<BorrowedFd<'_>>;
    /// Whether the position only moves in whole periods (batch devices).
    fn is_batch(&self) -> bool {
        false
    }
    /// Tells the device how far the application has written (64-bit
    /// frames). Free-running and restricted devices ignore it.
    fn commit(&mut self, _appl_frames: u64) -> Result<(), DeviceError> {
        Ok(())
    }
    /// Tells the device that the frames `[from, to)` (64-bit) will never
    /// be written: the engine found an xrun and re-anchored past them.
    /// Called before the commit that moves the cursor beyond them. Only a
    /// device that counts its own underruns (the simulated one) needs it.
    fn mark_unwritten(&mut self, _from: u64, _to: u64) {}
    /// Whether [`Device::commit`] should follow every block written
    /// rather than every fill (cheap for a device that counts underruns
    /// from the committed cursor, so a stall in the middle of a fill does
    /// not count frames that were in the ring in time).
    fn commit_each_block(&self) -> bool {
        false
    }
    /// What identifies the ring this device writes, if it can tell (a
    /// hardware substream, a simulated device's memfd): the engine refuses
    /// to start a second engine on a ring one already drives in this
    /// process. `None` (the default; restricted fds, whose anonymous inode
    /// names nothing) skips the check.
    fn ring_identity(&self) -> Option<RingIdentity> {
        None
    }
}

/// Identifies a device's ring within this process; see
/// [`Device::ring_identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RingIdentity {
    /// A hardware PCM substream.
    Pcm {
        /// Card index.
        card: u32,
        /// Device number.
        device: u32,
        /// Subdevice number.
        subdevice: u32,
    },
    /// A file-backed ring (the simulated device's memfd): its inode.
    File {
        /// `st_dev` of the file.
        dev: u64,
        /// `st_ino` of the file.
        ino: u64,
    },
}

/// A device behind `dyn` shows its layout and where its position comes
/// from (what a log needs).
impl std::fmt::Debug for dyn Device + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("layout", &self.layout())
            .field("position_source", &self.position_source())
            .field("batch", &self.is_batch())
            .finish()
    }
}

/// Implements [`Device`] for a pointer type by forwarding every method,
/// defaults included, to the device it points to: one list, so a new
/// method cannot be forwarded for one pointer and forgotten for another.
macro_rules! forward_device {
    ($($ptr:ty => $doc:literal),+ $(,)?) => {$(
        #[doc = $doc]
        impl<D: Device + ?Sized> Device for $ptr {
            fn layout(&self) -> StreamLayout {
                (**self).layout()
            }
            fn ring(&self) -> &RingView {
                (**self).ring()
            }
            fn position(&mut self) -> Result<HwPosition, DeviceError> {
                (**self).position()
            }
            fn peek_position(&mut self) -> Option<Result<HwPosition, DeviceError>> {
                (**self).peek_position()
            }
            fn position_source(&self) -> PositionSource {
                (**self).position_source()
            }
            fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
                (**self).poll_fd()
            }
            fn is_batch(&self) -> bool {
                (**self).is_batch()
            }
            fn commit(&mut self, appl_frames: u64) -> Result<(), DeviceError> {
                (**self).commit(appl_frames)
            }
            fn mark_unwritten(&mut self, from: u64, to: u64) {
                (**self).mark_unwritten(from, to)
            }
            fn commit_each_block(&self) -> bool {
                (**self).commit_each_block()
            }
            fn ring_identity(&self) -> Option<RingIdentity> {
                (**self).ring_identity()
            }
        }
    )+};
}

forward_device! {
    Box<D> => "Forwards every method, defaults included, to the boxed device.",
    &mut D => "Forwards every method, defaults included, to the borrowed device.",
}
