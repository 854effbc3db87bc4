//! State shared between the control side and the renderer: the voice slot
//! pool (free list + generations), parameter words, the queues and stats.
//!
//! Slot ownership (pool accounting): at any moment each slot is in exactly
//! one place: the free list, a `Play` command in flight, the renderer's
//! active list, or the garbage queue. `play` pops a free slot, the renderer
//! moves ended voices to the garbage queue (bumping the slot generation
//! first), and `collect_garbage` drops the sound reference on a non-realtime
//! thread and returns the slot to the free list.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;

use super::command::Command;
use super::stats::StatsShared;
use crate::sound::Sound;

/// The continuous parameters of one slot (see [`super::param`]).
#[derive(Default)]
pub(crate) struct SlotParams {
    pub gain: AtomicU64,
    pub pan: AtomicU64,
    pub rate: AtomicU64,
}

/// A finished voice travelling back to a non-realtime thread.
pub(crate) struct Garbage {
    pub slot: u32,
    pub sound: Sound,
}

/// Everything the control handles and the renderer share.
pub(crate) struct Shared {
    /// Device frame rate.
    pub rate: u32,
    /// Gain/pan/rate ramp length in frames.
    pub ramp_frames: u32,
    /// Default stop/pause fade in frames.
    pub default_fade: u32,
    /// Per slot: the generation of the current (or next) voice.
    pub generations: Box<[AtomicU32]>,
    /// Per slot: gain, pan, rate words.
    pub params: Box<[SlotParams]>,
    /// Free slot indices.
    pub free: ArrayQueue<u32>,
    /// Commands to the renderer (MPSC use of an MPMC queue).
    pub commands: ArrayQueue<Command>,
    /// Ended voices on their way to `collect_garbage`.
    pub garbage: ArrayQueue<Garbage>,
    /// Bus names, index = bus id.
    pub bus_names: Box<[String]>,
    /// Bus gains as `f32` bits.
    pub bus_gains: Box<[AtomicU32]>,
    /// Master gain as `f32` bits.
    pub master_gain: AtomicU32,
    /// Counters.
    pub stats: StatsShared,
    /// Set when the renderer is dropped (its engine stopped, failed or
    /// dropped it after a panic): nothing will play any more.
    pub renderer_gone: AtomicBool,
}

impl Shared {
    pub fn new(
        rate: u32,
        voices: usize,
        command_capacity: usize,
        ramp_frames: u32,
        default_fade: u32,
        bus_names: Vec<String>,
    ) -> Shared {
        let free = ArrayQueue::new(voices);
        for i in 0..voices as u32 {
            // Cannot fail: the queue holds exactly `voices` entries.
            let _ = free.push(i);
        }
        let buses = bus_names.len();
        Shared {
            rate,
            ramp_frames,
            default_fade,
            generations: (0..voices).map(|_| AtomicU32::new(0)).collect(),
            params: (0..voices).map(|_| SlotParams::default()).collect(),
            free,
            commands: ArrayQueue::new(command_capacity),
            garbage: ArrayQueue::new(voices),
            bus_names: bus_names.into_boxed_slice(),
            bus_gains: (0..buses)
                .map(|_| AtomicU32::new(1.0f32.to_bits()))
                .collect(),
            master_gain: AtomicU32::new(1.0f32.to_bits()),
            stats: StatsShared::new(buses),
            renderer_gone: AtomicBool::new(false),
        }
    }

    /// Drops finished voices' sound references (call on a non-realtime
    /// thread) and returns their slots to the free list. Returns how many.
    pub fn collect_garbage(&self) -> usize {
        let mut n = 0;
        while let Some(g) = self.garbage.pop() {
            drop(g.sound);
            // Cannot fail: a slot is in only one place at a time.
            let _ = self.free.push(g.slot);
            n += 1;
        }
        n
    }

    /// Pushes a command; `false` (and counted as dropped) if the queue is
    /// full. A refused command is dropped here, on the calling thread.
    pub fn send(&self, cmd: Command) -> bool {
        if self.commands.push(cmd).is_ok() {
            return true;
        }
        self.stats.dropped_commands.fetch_add(1, Ordering::Relaxed);
        false
    }
}
