//! The control half: [`Mixer`] (play, buses, master gain, garbage, stats) and
//! its builder, which also makes the realtime half.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::command::{BusId, BusOp, Command, Loop, PlayParams};
use super::effect::Effect;
use super::error::MixerError;
use super::event::MixerEvent;
use super::handle::{valid_gain, valid_rate, VoiceHandle, VoiceId};
use super::param;
use super::render::{Clip, MixerRenderer};
use super::shared::Shared;
use super::stats::MixerStats;
use crate::sound::Sound;
use crate::stream::{Stream, StreamShared};

/// Largest voice pool a mixer can be built with.
pub const MAX_VOICES: usize = 1 << 20;

/// Builds a [`Mixer`] and its [`MixerRenderer`].
///
/// ```
/// use pcmring::mixer::MixerBuilder;
/// let (mixer, _renderer) = MixerBuilder::new(48_000).voices(256).bus("music").bus("effects").build();
/// assert!(mixer.bus("music").is_some());
/// ```
pub struct MixerBuilder {
    rate: u32,
    voices: usize,
    commands: usize,
    ramp_frames: u32,
    default_fade: u32,
    buses: Vec<String>,
    clip: Clip,
    events: usize,
    inserts: Vec<(String, Box<dyn Effect>)>,
    sends: Vec<(String, String, f32)>,
}

impl fmt::Debug for MixerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MixerBuilder")
            .field("rate", &self.rate)
            .field("voices", &self.voices)
            .field("buses", &self.buses)
            .field("inserts", &self.inserts.len())
            .field("sends", &self.sends)
            .finish_non_exhaustive()
    }
}

impl MixerBuilder {
    /// A mixer at `rate` frames per second: 4096 voices, a 4096-command queue,
    /// 5 ms ramps and fades, soft clip, one bus ("main").
    pub fn new(rate: u32) -> Self {
        let ms5 = (rate / 200).max(1);
        MixerBuilder {
            rate,
            voices: 4096,
            commands: 4096,
            ramp_frames: ms5,
            default_fade: ms5,
            buses: vec!["main".to_string()],
            clip: Clip::Soft,
            events: 4096,
            inserts: Vec::new(),
            sends: Vec::new(),
        }
    }
    /// Adds an insert effect at the end of bus `bus`'s chain (buses are
    /// named by [`MixerBuilder::bus`]; "main" always exists). Ignored, with
    /// the rest of an unknown bus's setup, if no such bus is added.
    pub fn insert(mut self, bus: &str, effect: impl Effect + 'static) -> Self {
        self.inserts.push((bus.to_string(), Box::new(effect)));
        self
    }
    /// Sends bus `from`'s output (after its inserts and gain) at `level`
    /// into bus `to` (which then also plays it through its own inserts).
    /// `to` must be added after `from` (sends flow to later buses only);
    /// others are ignored. Change the level with [`Mixer::set_send_level`].
    pub fn send(mut self, from: &str, to: &str, level: f32) -> Self {
        self.sends.push((from.to_string(), to.to_string(), level));
        self
    }
    /// Event queue capacity (default 4096); see [`Mixer::poll_event`].
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.events = n.max(1);
        self
    }
    /// Voice pool capacity (1 to 2^20 voices).
    pub fn voices(mut self, n: usize) -> Self {
        self.voices = n.clamp(1, MAX_VOICES);
        self
    }
    /// Command queue capacity.
    pub fn command_capacity(mut self, n: usize) -> Self {
        self.commands = n.max(1);
        self
    }
    /// Length of gain, pan and rate ramps in frames (at least 1).
    pub fn ramp_frames(mut self, n: u32) -> Self {
        self.ramp_frames = n.max(1);
        self
    }
    /// Default fade of `stop` and `pause` in frames.
    pub fn default_fade(mut self, n: u32) -> Self {
        self.default_fade = n;
        self
    }
    /// Adds a bus; its id is the next index (main is 0).
    pub fn bus(mut self, name: &str) -> Self {
        self.buses.push(name.to_string());
        self
    }
    /// Output clipping.
    pub fn clip(mut self, clip: Clip) -> Self {
        self.clip = clip;
        self
    }
    /// Makes the control half and the realtime half.
    pub fn build(self) -> (Mixer, MixerRenderer) {
        super::pan::init_pan_table();
        super::surround::init_matrices();
        let index = |name: &str| self.buses.iter().position(|b| b == name);
        let mut inserts: Vec<Vec<Box<dyn Effect>>> =
            (0..self.buses.len()).map(|_| Vec::new()).collect();
        for (bus, fx) in self.inserts {
            if let Some(i) = self.buses.iter().position(|b| *b == bus) {
                inserts[i].push(fx);
            }
        }
        let sends: Vec<(u16, u16, f32)> = self
            .sends
            .iter()
            .filter_map(|(f, t, level)| match (index(f), index(t)) {
                (Some(f), Some(t)) if t > f && valid_gain(*level) => {
                    Some((f as u16, t as u16, *level))
                }
                _ => None,
            })
            .collect();
        let shared = Arc::new(Shared::new(
            self.rate,
            self.voices,
            self.commands,
            self.ramp_frames,
            self.default_fade,
            self.buses,
            self.events,
            &sends,
        ));
        let routes = sends.iter().map(|s| (s.0, s.1)).collect();
        let renderer = MixerRenderer::new(shared.clone(), self.clip, inserts, routes);
        (Mixer { shared }, renderer)
    }
}

/// The control half of the mixer: usable from any thread (`Clone + Send + Sync`),
/// never blocks, never locks.
#[derive(Clone)]
pub struct Mixer {
    shared: Arc<Shared>,
}

impl fmt::Debug for Mixer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mixer")
            .field("rate", &self.shared.rate)
            .field("voices", &self.shared.generations.len())
            .finish()
    }
}

impl Mixer {
    /// Starts a voice playing `sound`. Returns at once; the voice begins in
    /// the renderer's next block (or at `params.start`).
    ///
    /// ```
    /// use pcmring::mixer::{MixerBuilder, PlayParams};
    /// use pcmring::sound::Sound;
    /// let (mixer, _r) = MixerBuilder::new(48_000).build();
    /// let s = Sound::from_samples(vec![0.5; 480], 1, 48_000).unwrap();
    /// let v = mixer.play(&s, PlayParams::new().gain(0.8)).unwrap();
    /// assert!(v.is_active());
    /// ```
    pub fn play(&self, sound: &Sound, params: PlayParams) -> Result<VoiceHandle, MixerError> {
        let sh = &self.shared;
        if sh.renderer_gone.load(Ordering::Acquire) {
            return Err(MixerError::EngineGone);
        }
        if params.bus.index() >= sh.bus_names.len() {
            return Err(MixerError::BadBus);
        }
        if sound.rate() != sh.rate {
            return Err(MixerError::WrongRate {
                sound: sound.rate(),
                mixer: sh.rate,
            });
        }
        let frames = sound.frames() as u64;
        if frames == 0 {
            return Err(MixerError::EmptySound);
        }
        if !valid_gain(params.gain) || !params.pan.is_finite() || !valid_rate(params.rate) {
            return Err(MixerError::BadParams);
        }
        let (loop_start, loop_end) = match params.looping {
            Loop::Off => (0, frames),
            Loop::Whole => (0, frames),
            Loop::Region { start, end } if start < end && end <= frames => (start, end),
            Loop::Region { .. } => return Err(MixerError::BadParams),
        };
        if params.offset >= frames {
            return Err(MixerError::BadParams);
        }
        self.start(Some(sound.clone()), None, params, loop_start, loop_end)
    }

    /// Starts a voice playing a [`Stream`] (decoded on its loader thread),
    /// with the same parameters as [`Mixer::play`]; looping and the start
    /// frame belong to the stream ([`crate::stream::StreamOptions`]), so
    /// `params.looping` and `params.offset` must be left at their defaults.
    /// A stream plays in one voice only ([`MixerError::StreamInUse`]).
    pub fn play_stream(
        &self,
        stream: &Stream,
        params: PlayParams,
    ) -> Result<VoiceHandle, MixerError> {
        let sh = &self.shared;
        if stream.rate() != sh.rate {
            return Err(MixerError::WrongRate {
                sound: stream.rate(),
                mixer: sh.rate,
            });
        }
        if params.bus.index() >= sh.bus_names.len() {
            return Err(MixerError::BadBus);
        }
        if !valid_gain(params.gain)
            || !params.pan.is_finite()
            || !valid_rate(params.rate)
            || params.looping != Loop::Off
            || params.offset != 0
        {
            return Err(MixerError::BadParams);
        }
        if stream.shared.claimed.swap(true, Ordering::AcqRel) {
            return Err(MixerError::StreamInUse);
        }
        let r = self.start(None, Some(stream.shared.clone()), params, 0, u64::MAX);
        if r.is_err() {
            stream.shared.claimed.store(false, Ordering::Release);
        }
        r
    }

    fn start(
        &self,
        sound: Option<Sound>,
        stream: Option<Arc<StreamShared>>,
        params: PlayParams,
        loop_start: u64,
        loop_end: u64,
    ) -> Result<VoiceHandle, MixerError> {
        let sh = &self.shared;
        let slot = match sh.free.pop() {
            Some(s) => s,
            None => {
                sh.collect_garbage();
                match sh.free.pop() {
                    Some(s) => s,
                    None => {
                        sh.stats.pool_full.fetch_add(1, Ordering::Relaxed);
                        return Err(MixerError::PoolFull);
                    }
                }
            }
        };
        // We own the slot: nobody else writes its generation or words now.
        let generation = sh.generations[slot as usize].load(Ordering::Acquire);
        let p = &sh.params[slot as usize];
        param::init(&p.gain, generation, params.gain);
        param::init(&p.pan, generation, params.pan.clamp(-1.0, 1.0));
        param::init(&p.rate, generation, params.rate);
        p.position.store(params.offset, Ordering::Relaxed);
        let cmd = Command::Play {
            slot,
            generation,
            sound,
            stream,
            params,
            loop_start,
            loop_end,
        };
        if !sh.send(cmd) {
            // Nobody saw this generation: the slot goes back unchanged.
            let _ = sh.free.push(slot);
            return Err(MixerError::QueueFull);
        }
        Ok(VoiceHandle {
            shared: sh.clone(),
            id: VoiceId { slot, generation },
        })
    }

    /// Looks a bus up by name.
    pub fn bus(&self, name: &str) -> Option<BusId> {
        self.shared
            .bus_names
            .iter()
            .position(|n| n == name)
            .map(|i| BusId(i as u16))
    }

    /// Sets a bus's gain (ramped); `false` if there is no such bus or the gain is invalid.
    pub fn set_bus_gain(&self, bus: BusId, gain: f32) -> bool {
        match self.shared.bus_gains.get(bus.index()) {
            Some(g) if valid_gain(gain) => {
                g.store(gain.to_bits(), Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Stops every voice on `bus` (with the default fade).
    pub fn stop_bus(&self, bus: BusId) -> Result<(), MixerError> {
        self.bus_op(bus, BusOp::Stop)
    }

    /// Pauses every voice on `bus` (with the default fade); voices started
    /// on it later play normally.
    pub fn pause_bus(&self, bus: BusId) -> Result<(), MixerError> {
        self.bus_op(bus, BusOp::Pause)
    }

    /// Resumes every paused voice on `bus`.
    pub fn resume_bus(&self, bus: BusId) -> Result<(), MixerError> {
        self.bus_op(bus, BusOp::Resume)
    }

    fn bus_op(&self, bus: BusId, op: BusOp) -> Result<(), MixerError> {
        if bus.index() >= self.shared.bus_names.len() {
            return Err(MixerError::BadBus);
        }
        if self.shared.send(Command::Bus { bus: bus.0, op }) {
            Ok(())
        } else {
            Err(MixerError::QueueFull)
        }
    }

    /// Sets the level of the send from bus `from` to bus `to` (applied at
    /// the next chunk); `false` if there is no such send or the level is invalid.
    pub fn set_send_level(&self, from: BusId, to: BusId, level: f32) -> bool {
        let sh = &self.shared;
        match sh.send_routes.iter().position(|&r| r == (from.0, to.0)) {
            Some(k) if valid_gain(level) => {
                sh.send_levels[k].store(level.to_bits(), Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Sets the master gain (ramped); `false` if invalid.
    pub fn set_master_gain(&self, gain: f32) -> bool {
        if !valid_gain(gain) {
            return false;
        }
        self.shared
            .master_gain
            .store(gain.to_bits(), Ordering::Relaxed);
        true
    }

    /// Drops the sound references of voices that ended and frees their slots.
    /// Call it from a non-realtime thread (`play` also calls it when the pool
    /// looks full), or run [`Mixer::spawn_janitor`]. Returns how many.
    pub fn collect_garbage(&self) -> usize {
        self.shared.collect_garbage()
    }

    /// Starts a thread that collects garbage every `interval`; it stops when
    /// the returned [`Janitor`] is dropped.
    pub fn spawn_janitor(&self, interval: Duration) -> std::io::Result<Janitor> {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, shared) = (stop.clone(), self.shared.clone());
        let thread = std::thread::Builder::new()
            .name("pcmring-janitor".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    shared.collect_garbage();
                    std::thread::park_timeout(interval);
                }
                shared.collect_garbage();
            })?;
        Ok(Janitor {
            stop,
            thread: Some(thread),
        })
    }

    /// The next event from the renderer (voice ends, silenced non-finite
    /// output, stream underruns), oldest first; `None` when there is none.
    /// Lock-free; any thread may poll, each event goes to one poller.
    pub fn poll_event(&self) -> Option<MixerEvent> {
        self.shared.events.pop()
    }

    /// A snapshot of the counters; resets the peak meters.
    pub fn stats(&self) -> MixerStats {
        self.shared.stats.snapshot()
    }

    /// Free voice slots (not counting ended voices awaiting collection).
    pub fn free_voices(&self) -> usize {
        self.shared.free.len()
    }

    /// Pool capacity.
    pub fn capacity(&self) -> usize {
        self.shared.generations.len()
    }

    /// The device frame rate the mixer runs at.
    pub fn rate(&self) -> u32 {
        self.shared.rate
    }
}

/// A background garbage collector; stops (and joins) on drop.
#[derive(Debug)]
pub struct Janitor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Janitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
