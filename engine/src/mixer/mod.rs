//! The voice mixer: thousands of voices, sample-accurate, realtime-safe.
//!
//! Two halves (the split kira uses): [`Mixer`] is the control handle, usable
//! from any thread without locks; [`MixerRenderer`] is the realtime half that
//! the audio thread calls once per block. [`MixerBuilder`] makes both.
//!
//! - **Starting voices**: [`Mixer::play`] allocates a slot from a lock-free
//!   free list, writes the voice's parameter words and pushes a `Play`
//!   command on a bounded lock-free queue (crossbeam `ArrayQueue`); it returns
//!   a [`VoiceHandle`] at once, or [`MixerError::PoolFull`] /
//!   [`MixerError::QueueFull`]. It never blocks.
//! - **Handles**: a handle names a voice by slot and generation. Gain, pan and
//!   rate are generation-tagged atomic words (`param`); stop, pause and
//!   resume are commands. Once a voice ends, every operation on its handle
//!   returns [`MixerError::Ended`] and can never reach a later voice in the
//!   same slot.
//! - **Timing**: [`PlayParams::at`] and [`VoiceHandle::stop_at`] take a
//!   64-bit device frame; the renderer splits its block at exactly that frame.
//! - **Ramps**: gain, pan and rate changes ramp linearly over
//!   [`MixerBuilder::ramp_frames`] frames (default 5 ms). For a gain step from
//!   `g0` to `g1` on a source bounded by `|s| <= 1`, consecutive output
//!   samples differ by at most `|g1 - g0| / ramp_frames` plus the source's own
//!   step times the gain. Stop and pause fade linearly to zero over their
//!   fade length (default 5 ms) the same way.
//!   Pan changes ramp each side's gain linearly, so mid-ramp the power may
//!   dip (at most 3 dB for a full left-to-right sweep) but never jumps.
//! - **Pan law**: constant power, −3 dB per side at the
//!   centre for mono sources; balance with unity at the centre for stereo.
//! - **Output layouts**: the block's channel count picks mono, stereo,
//!   quad, 5.1 or 7.1 in ALSA's channel order ([`OutputLayout`]); buses
//!   keep one planar scratch per output channel. Mono voices are panned with
//!   constant power between the two speakers around their direction
//!   ([`VoiceHandle::set_azimuth`], or the front stage by
//!   [`VoiceHandle::set_pan`]); stereo voices play on the front pair;
//!   sounds and streams of 3 to 8 channels go through a fixed up/downmix matrix
//!   ([`OutputLayout::matrix`], ITU-R BS.775 coefficients). Each voice
//!   mixes only the speaker pairs with signal, through the same kernels as
//!   stereo or a matrix kernel (no per-frame path). Insert effects (per-channel
//!   state), bus gains, sends and the master gain cover every channel.
//! - **Rate**: playback rate (pitch) uses linear interpolation on a 32.32
//!   fixed-point position; a voice at rate 1 on a whole frame takes a
//!   copy-exact path.
//! - **Performance**: the inner loops (256-frame planar scratch, a
//!   ramp prologue then a flat-gain loop) are compiled three times, for
//!   SSE2, AVX2 and AVX-512, picked at run time; with AVX-512 the
//!   interpolation runs sixteen frames per instruction (AVX2: gathers).
//!   Every variant gives bit-identical output. The voice loop prefetches
//!   the sources of the voices a few places ahead, further ahead the hot
//!   part of their state, and further still starts the page walks of a
//!   batch of voices at once. With tens of thousands of voices on distinct
//!   sounds, page-translation misses still cost: pack the sounds into one
//!   bank with [`crate::sound::Sound::pack`] (huge pages) to cut them
//!   (`benches/mixer.rs` measures both).
//! - **Buses**: every voice mixes into a bus ([`BusId::MAIN`] or one added by
//!   [`MixerBuilder::bus`]); buses have ramped gains, then the master gain and
//!   the [`Clip`] stage.
//! - **Realtime rules**: the renderer never allocates, locks or frees: ended
//!   voices travel back with their sound reference over a lock-free queue and
//!   are dropped by [`Mixer::collect_garbage`] (called by `play` when the pool
//!   looks full, or by a [`Janitor`] thread).
//! - **Streaming voices**: [`Mixer::play_stream`] plays a
//!   [`crate::stream::Stream`] (a file decoded on a loader thread into a
//!   lock-free ring) like any voice; underruns are silence, counted and
//!   reported.
//! - **Tweens and scheduled changes**: gain, pan and rate each take a
//!   tween ([`VoiceHandle::set_gain_tween`], [`VoiceHandle::set_pan_tween`],
//!   [`VoiceHandle::set_rate_tween`]; [`Curve`]: linear, dB-linear,
//!   S-curve) and a change scheduled on a frame ([`VoiceHandle::set_gain_at`],
//!   [`VoiceHandle::set_pan_at`], [`VoiceHandle::set_rate_at`], and
//!   `tween_*_at` for both); the rate follows its curve through the
//!   kernels' rate ramp, a segment at a time (no per-frame path);
//!   [`BeatClock`] turns beats into frames; [`Mixer::stop_bus`] and friends.
//! - **Effects**: per-bus inserts and sends ([`MixerBuilder::insert`],
//!   [`MixerBuilder::send`]): [`Biquad`], [`Delay`], [`Reverb`], or any
//!   [`Effect`].
//! - **3D**: [`Listener::hear`] turns an [`Emitter`] into what the
//!   [`Listener`] hears: a gain, an azimuth (panned over the output layout's
//!   speakers), a stereo pan and a Doppler rate.
//! - **Hygiene**: denormals are flushed while rendering;
//!   sounds must be finite, and a chunk that still goes NaN or infinite is
//!   silenced and its voice ended ([`MixerEvent`], [`EndReason::NonFinite`]).
//! - **Events**: [`Mixer::poll_event`] (voice ends, stream underruns),
//!   lock-free from any thread.
//! - **Observability**: [`Mixer::stats`] (active voices, dropped commands,
//!   peaks per bus, mix time per block as a histogram).
//!
//! ```
//! use pcmring::mixer::{BlockInfo, Loop, MixerBuilder, PlayParams};
//! use pcmring::sound::Sound;
//!
//! let (mixer, mut renderer) = MixerBuilder::new(48_000).bus("effects").build();
//! let beep = Sound::from_samples(vec![0.25f32; 4800], 1, 48_000).unwrap();
//! let fx = mixer.bus("effects").unwrap();
//! let v = mixer.play(&beep, PlayParams::new().bus(fx).looping(Loop::Whole).at(64)).unwrap();
//! let mut out = vec![0.0f32; 2 * 128];
//! renderer.render(&mut out, &BlockInfo { frame_time: 0, frames: 128, channels: 2, rate: 48_000 });
//! assert_eq!(out[2 * 63], 0.0);
//! assert!(out[2 * 64] > 0.0);
//! v.stop().unwrap();
//! ```

mod beat;
mod command;
mod control;
mod denormal;
mod effect;
mod error;
mod event;
mod handle;
mod id;
mod kernel;
mod looping;
mechanism_mod!(
    /// Generation-tagged atomic parameter words.
    param
);
mod pan;
mod planes;
mod render;
mod shared;
mod spatial;
mod stats;
mod surround;
mod tween;
mod voice;

/// The engine's block description, which a mixer renders to.
#[doc(no_inline)]
pub use crate::engine::BlockInfo;
pub use beat::BeatClock;
pub use command::{BusId, Loop, PlayParams, Start};
pub use control::{Janitor, Mixer, MixerBuilder};
pub use effect::{Biquad, Delay, Effect, EffectHandle, FilterKind, Reverb};
pub use error::MixerError;
pub use event::{EndReason, MixerEvent};
pub use handle::{VoiceHandle, VoiceId};
pub use render::{Clip, MixerRenderer};
pub use spatial::{Attenuation, Emitter, Listener, Spatial};
pub use stats::MixerStats;
pub use surround::{OutputLayout, Position};
pub use tween::{Curve, Tween};

// Tuning constants and helpers the crate's own tests reach.
testing_use!(control::MAX_VOICES);
testing_use!(denormal::FlushDenormals);
testing_use!(effect::{
    biquad_coefficients, REVERB_ALLPASSES, REVERB_COMBS, REVERB_INPUT, REVERB_SPREAD,
});
testing_use!(pan::{pan_gains, PAN_STEPS});
testing_use!(render::{CHUNK, SOFT_KNEE});
testing_use!(spatial::{Vec3, SPEED_OF_SOUND});
testing_use!(surround::{Matrix, MAX_OUTPUT_CHANNELS});
testing_use!(tween::TWEEN_SEGMENT);
