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
use super::event::MixerEvent;
use super::stats::StatsShared;
use std::sync::Arc;

use crate::sound::Sound;
use crate::stream::StreamShared;

/// The continuous parameters of one slot (see [`super::param`]).
#[derive(Default)]
pub(crate) struct SlotParams {
    pub gain: AtomicU64,
    pub pan: AtomicU64,
    pub rate: AtomicU64,
    /// The voice's position (frame of its sound, or of its stream), stored
    /// by the renderer after every chunk.
    pub position: AtomicU64,
}

/// A finished voice travelling back to a non-realtime thread.
pub(crate) struct Garbage {
    pub slot: u32,
    pub sound: Option<Sound>,
    pub stream: Option<Arc<StreamShared>>,
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
    /// Send levels as `f32` bits, index = send id.
    pub send_levels: Box<[AtomicU32]>,
    /// Sends: (from bus, to bus), index = send id.
    pub send_routes: Box<[(u16, u16)]>,
    /// Master gain as `f32` bits.
    pub master_gain: AtomicU32,
    /// Events to the control side.
    pub events: ArrayQueue<MixerEvent>,
    /// Counters.
    pub stats: StatsShared,
    /// Set when the renderer is dropped (its engine stopped, failed or
    /// dropped it after a panic): nothing will play any more.
    pub renderer_gone: AtomicBool,
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rate: u32,
        voices: usize,
        command_capacity: usize,
        ramp_frames: u32,
        default_fade: u32,
        bus_names: Vec<String>,
        event_capacity: usize,
        sends: &[(u16, u16, f32)],
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
            send_levels: sends
                .iter()
                .map(|s| AtomicU32::new(s.2.to_bits()))
                .collect(),
            send_routes: sends.iter().map(|s| (s.0, s.1)).collect(),
            master_gain: AtomicU32::new(1.0f32.to_bits()),
            events: ArrayQueue::new(event_capacity.max(1)),
            stats: StatsShared::new(buses),
            renderer_gone: AtomicBool::new(false),
        }
    }

    /// Pushes an event (renderer side); counted as dropped if the queue is full.
    #[inline]
    pub fn event(&self, e: MixerEvent) {
        if self.events.push(e).is_err() {
            self.stats.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drops finished voices' sound references (call on a non-realtime
    /// thread) and returns their slots to the free list. Returns how many.
    pub fn collect_garbage(&self) -> usize {
        let mut n = 0;
        while let Some(g) = self.garbage.pop() {
            drop(g.sound);
            drop(g.stream);
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
