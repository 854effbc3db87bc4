//! `latbench pcmring`: the pcmring [`Engine`] on a full [`Pcm`] at one
//! block size, rendering the pilot and the clicks.
//!
//! `T_trigger` is taken at the entry of the render call whose block starts
//! with the click (the moment the application produces the sample). The
//! main thread samples the engine's telemetry (margin, lead) every 50 ms
//! for the margin-over-time plot.

use crate::args::Args;
use crate::{cpu_ms, emit};
use latency_signal::{fill_f32, ClickPlan, CHANNELS, RATE};
use pcmring::engine::{BlockInfo, Engine, EngineConfig, Margin, WakeStrategy};
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm};
use pcmring::Format;
use pcmring_rt::timer::{now_ns, sleep_until_ns};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the renderer hands back, without locks or allocation.
struct Shared {
    /// `t_trigger` by click id (index 0 unused).
    trigger_ns: Vec<AtomicU64>,
    sent: AtomicU32,
}

/// Runs the pcmring player.
pub fn run(a: &Args) -> Result<(), String> {
    let device = a.str("device", "hw:Loopback,0,1");
    let tag = a.str("tag", "pcmring");
    let block = a.u64("block", 128)? as usize;
    let clicks = a.u64("clicks", 200)? as u32;
    let seconds = a.u64("seconds", 0)?;
    let margin = match a.str("margin", "auto").as_str() {
        "auto" => Margin::Auto {
            probe: Duration::from_millis(200),
        },
        m => Margin::Frames(m.parse().map_err(|_| format!("--margin: {m:?}"))?),
    };
    let period = a.u64("period", 256)?;
    let cfg = Config {
        format: Some(Format::S16Le),
        channels: CHANNELS as u32,
        rate: RATE,
        rate_match: Match::Exact,
        period_size: period,
        buffer: BufferSize::Frames(16_384.max(4 * block as u64)),
        ..Config::default()
    };
    let mut pcm = Pcm::open(&device, Direction::Playback, &cfg).map_err(|e| e.to_string())?;
    let layout = pcmring::Device::layout(&pcm);
    pcm.prepare().map_err(|e| e.to_string())?;
    pcm.start().map_err(|e| e.to_string())?;

    let shared = Arc::new(Shared {
        trigger_ns: (0..=clicks).map(|_| AtomicU64::new(0)).collect(),
        sent: AtomicU32::new(0),
    });
    let sh = shared.clone();
    let mut plan = ClickPlan::standard(clicks, now_ns());
    let mut k = 0u64;
    let renderer = move |out: &mut [f32], info: &BlockInfo| {
        let t = now_ns();
        let click = plan.due(k);
        fill_f32(out, k, click);
        if let Some(id) = click {
            if let Some(slot) = sh.trigger_ns.get(usize::from(id)) {
                slot.store(t, Ordering::Relaxed);
            }
            sh.sent.store(plan.sent(), Ordering::Release);
        }
        k += info.frames as u64;
    };
    let ecfg = EngineConfig {
        name: device.clone(),
        block_frames: block,
        wake: WakeStrategy::Auto,
        margin,
        fifo_priority: Some(80),
        lock_memory: true,
        ..EngineConfig::default()
    };
    let engine = Engine::start(pcm, renderer, ecfg).map_err(|e| e.to_string())?;
    let info = engine.start_info().clone();

    let t0 = now_ns();
    let mut samples = Vec::with_capacity(4096);
    let mut tail_from = None;
    let mut next = t0;
    loop {
        // Every 50 ms: the telemetry samples for the margin plot, light
        // enough not to weigh on the player's syscall count.
        next += 50_000_000;
        sleep_until_ns(next);
        let now = now_ns();
        let s = engine.telemetry().snapshot();
        samples.push(format!(
            "M {tag} {} {} {} {} {}",
            now - t0,
            s.margin_frames,
            s.lead_frames,
            s.granule_frames,
            s.xruns
        ));
        if !engine.is_running() {
            break;
        }
        let done = if seconds > 0 {
            now - t0 >= seconds * 1_000_000_000
        } else {
            shared.sent.load(Ordering::Acquire) >= clicks
        };
        match (done, tail_from) {
            (true, None) => tail_from = Some(now),
            (_, Some(t)) if now - t >= 300_000_000 => break,
            _ => {}
        }
    }
    let snap = engine.telemetry().snapshot();
    let err = engine.error();
    let stopped = engine.stop();
    for (id, t) in shared.trigger_ns.iter().enumerate().skip(1) {
        let t = t.load(Ordering::Relaxed);
        if t != 0 {
            emit(&format!("T {tag} {id} {t}"));
        }
    }
    for s in &samples {
        emit(s);
    }
    emit(&format!(
        "R {tag} sent={} xruns={} block={block} period={} buffer={} wake={:?} margin_start={} margin={} min_lead={} granule={} wake_interval={} jitter_us={} fifo={} cycles={} wake_late_p99_us={} wake_late_max_us={} render_p99_us={} unexpected_blocks={} cpu_ms={} rt_syscalls_per_s={:.0} rt_cpu_percent={:.2} syncs={} page_reads={} sync_start={} sync_stale={} sync_low_lead={} sync_refresh={} bound_overshoot={} suspected_underruns={} sync_bound_failed={} error={}",
        shared.sent.load(Ordering::Acquire),
        snap.xruns,
        layout.period_size,
        layout.buffer_size,
        info.wake,
        info.margin_frames,
        snap.margin_frames,
        snap.min_lead_frames.unwrap_or(-1),
        snap.granule_frames,
        snap.wake_interval_frames,
        info.jitter_ns / 1000,
        info.realtime.is_ok(),
        snap.cycles,
        snap.wake_late_ns.percentile(99.0) / 1000,
        snap.wake_late_ns.max() / 1000,
        snap.render_ns.percentile(99.0) / 1000,
        snap.unexpected_blocks,
        cpu_ms(),
        snap.syscalls_per_audio_second(),
        snap.cpu_per_audio_second() * 100.0,
        snap.position_syncs,
        snap.page_reads,
        snap.syncs_start,
        snap.syncs_page_stale,
        snap.syncs_low_lead,
        snap.syncs_refresh,
        snap.bound_overshoot_max_frames,
        snap.suspected_underruns,
        snap.syncs_bound_failed,
        err.or(stopped.err().map(|e| e.to_string()))
            .unwrap_or_else(|| "none".to_owned())
            .replace(' ', "_"),
    ));
    Ok(())
}
