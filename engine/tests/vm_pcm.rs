//! Real-kernel tests of the full PCM, run in the VM suite (kernel/vm/run)
//! against snd-dummy (card id `Dummy`, fake_buffer=0) and snd-aloop (card
//! id `Loopback`). On the host they are listed as ignored.

use pcmring::pcm::verify::{find_signal, test_pattern_i16, test_pattern_i32};
use pcmring::pcm::{
    BufferSize, Config, ControlPath, Direction, Match, Pcm, PcmDevice, StatusPath, SwConfig,
    XrunMode,
};
use pcmring::wrap::Widener;
use pcmring::{Device, DeviceError, Error, Format, PcmState, PositionSource};
use std::io::Write;
use std::time::{Duration, Instant};

const DUMMY: &str = "hw:Dummy,0";
const LOOP_PLAY: &str = "hw:Loopback,0";

/// Writes past libtest's output capture, so the VM log keeps the line.
fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn page_round(n: usize) -> usize {
    n.div_ceil(4096) * 4096
}

fn cfg(format: Option<Format>, rate: u32, period: u64, periods: u32) -> Config {
    Config {
        format,
        rate,
        period_size: period,
        buffer: BufferSize::Periods(periods),
        ..Config::default()
    }
}

/// Checks what an opened PCM says about itself.
fn check_consistent(pcm: &Pcm) {
    let hw = pcm.hw_config();
    let l = pcm.layout();
    assert_eq!(
        hw.buffer_size,
        hw.period_size * u64::from(hw.periods),
        "{hw:?}"
    );
    assert_eq!(l.buffer_size, hw.buffer_size);
    assert_eq!(l.period_size, hw.period_size);
    assert_eq!(pcm.ring().len(), hw.buffer_size as usize * hw.frame_bytes());
    assert_eq!(pcm.ring_mapping_len(), page_round(pcm.ring().len()));
    assert!(
        l.boundary >= l.buffer_size && l.boundary.is_multiple_of(l.buffer_size),
        "{l:?}"
    );
    assert_eq!(pcm.sw_config().boundary, l.boundary);
    assert_eq!(pcm.state().expect("state"), PcmState::Setup);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn lists_dummy_and_loopback() {
    let devs = PcmDevice::list().expect("list");
    for d in &devs {
        out(&format!(
            "pcm-list {} card {} {:?} dev {} {} {}/{} {:?}",
            d.hw_name(),
            d.card,
            d.card_id,
            d.device,
            d.direction,
            d.subdevices_free,
            d.subdevices,
            d.name
        ));
    }
    for (id, dir) in [
        ("Dummy", Direction::Playback),
        ("Dummy", Direction::Capture),
        ("Loopback", Direction::Playback),
        ("Loopback", Direction::Capture),
    ] {
        assert!(
            devs.iter()
                .any(|d| d.card_id == id && d.device == 0 && d.direction == dir),
            "{id} {dir} missing from {devs:?}"
        );
    }
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn negotiates_formats_rates_and_periods() {
    out("granted | device | asked fmt/rate/period x periods | format ch rate period periods buffer boundary batch status control ring-map");
    let mut rows = 0;
    for dev in [DUMMY, LOOP_PLAY] {
        for format in [
            Some(Format::S16Le),
            Some(Format::S24Le),
            Some(Format::S24_3Le),
            Some(Format::S32Le),
            Some(Format::F32Le),
            None,
        ] {
            for (rate, period, periods) in [
                (44_100, 441, 4),
                (48_000, 256, 2),
                (48_000, 1024, 4),
                (96_000, 960, 3),
            ] {
                let c = cfg(format, rate, period, periods);
                let mut pcm = match Pcm::open(dev, Direction::Playback, &c) {
                    Ok(p) => p,
                    Err(Error::Unsupported { what, .. }) => {
                        // snd-dummy offers only U8 and S16_LE.
                        assert!(
                            dev == DUMMY && format.is_some_and(|f| f != Format::S16Le),
                            "{dev} refused {format:?}: {what}"
                        );
                        continue;
                    }
                    Err(e) => panic!("{dev} {c:?}: {e}"),
                };
                check_consistent(&pcm);
                let hw = *pcm.hw_config();
                if let Some(f) = format {
                    assert_eq!(hw.format, f);
                }
                assert_eq!(hw.channels, 2);
                let max_rate = if dev == DUMMY { 48_000 } else { 192_000 };
                assert_eq!(hw.rate, rate.min(max_rate), "nearest rate");
                assert_eq!(hw.period_size, period, "period size granted as asked");
                assert_eq!(hw.periods, periods, "periods granted as asked");
                pcm.prepare().expect("prepare");
                assert_eq!(pcm.state().expect("state"), PcmState::Prepared);
                out(&format!(
                    "granted | {dev} | {}/{rate}/{period}x{periods} | {} {} {} {} {} {} {} {} {:?} {:?} {}",
                    format.map_or("any", |f| f.name()),
                    hw.format,
                    hw.channels,
                    hw.rate,
                    hw.period_size,
                    hw.periods,
                    hw.buffer_size,
                    pcm.layout().boundary,
                    hw.is_batch(),
                    pcm.status_path(),
                    pcm.control_path(),
                    pcm.ring_mapping_len()
                ));
                rows += 1;
            }
        }
    }
    assert!(rows >= 20, "only {rows} configurations opened");
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn nearest_rounds_to_what_the_device_allows() {
    // snd-dummy: rates 5500..=48000, periods 1..=1024, buffer <= 64 KiB.
    let c = Config {
        rate: 200_000,
        period_size: 1 << 20,
        buffer: BufferSize::Periods(5000),
        ..cfg(Some(Format::S16Le), 0, 0, 0)
    };
    let pcm = Pcm::open(DUMMY, Direction::Playback, &c).expect("open");
    let hw = pcm.hw_config();
    assert_eq!(hw.rate, 48_000);
    assert!(hw.buffer_size * 4 <= 64 * 1024, "{hw:?}");
    check_consistent(&pcm);
    out(&format!(
        "nearest | {DUMMY} | 200000 Hz, 2^20 frames x 5000 -> {hw:?}"
    ));
    drop(pcm);
    // Buffer size in frames rather than periods.
    let c = Config {
        buffer: BufferSize::Frames(3000),
        ..cfg(Some(Format::S16Le), 48_000, 1000, 0)
    };
    let pcm = Pcm::open(LOOP_PLAY, Direction::Playback, &c).expect("open");
    assert_eq!(pcm.hw_config().buffer_size, 3000);
    assert_eq!(pcm.hw_config().periods, 3);
    check_consistent(&pcm);
}

/// Runs a started stream for about `secs` and returns (frames, seconds).
fn measure(pcm: &mut Pcm, secs: f64) -> (u64, f64) {
    let mut w = Widener::new(pcm.layout().boundary);
    let first = pcm.position().expect("position").hw_ptr;
    w.reset(first);
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < secs {
        std::thread::sleep(Duration::from_millis(5));
        let p = pcm.position().expect("position");
        assert_eq!(p.state, PcmState::Running, "free-running stream stopped");
        w.update(p.hw_ptr);
    }
    let dt = t0.elapsed().as_secs_f64();
    (w.value() - first, dt)
}

fn check_rate(dev: &str, force_sync_ptr: bool) {
    let c = Config {
        force_sync_ptr,
        ..cfg(Some(Format::S16Le), 48_000, 480, 4)
    };
    let mut pcm = Pcm::open(dev, Direction::Playback, &c).expect("open");
    let expect_src = if force_sync_ptr {
        PositionSource::SyncPtrIoctl
    } else {
        PositionSource::StatusPage
    };
    assert_eq!(pcm.position_source(), expect_src);
    pcm.prepare().expect("prepare");
    pcm.start().expect("start");
    let (frames, dt) = measure(&mut pcm, 1.0);
    let ratio = frames as f64 / (dt * 48_000.0);
    out(&format!(
        "rate | {dev} via {:?}: {frames} frames in {dt:.3} s = {:.3} x nominal",
        pcm.position_source(),
        ratio
    ));
    assert!(
        (0.5..1.5).contains(&ratio),
        "{dev}: hw_ptr ran at {ratio:.3} x nominal"
    );
    let p = pcm.position().expect("position");
    assert!(p.tstamp_ns > 0, "timestamps enabled but tstamp is 0");
    pcm.drop_stream().expect("drop");
    assert_eq!(pcm.state().expect("state"), PcmState::Setup);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn hw_ptr_advances_at_the_nominal_rate_via_status_page() {
    check_rate(DUMMY, false);
    check_rate(LOOP_PLAY, false);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn hw_ptr_advances_at_the_nominal_rate_via_sync_ptr() {
    check_rate(DUMMY, true);
    check_rate(LOOP_PLAY, true);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn status_page_is_mapped_and_sync_ptr_agrees() {
    for dev in [DUMMY, LOOP_PLAY] {
        let mut pcm = Pcm::open(
            dev,
            Direction::Playback,
            &cfg(Some(Format::S16Le), 48_000, 480, 4),
        )
        .expect("open");
        assert_eq!(pcm.status_path(), StatusPath::Mapped);
        assert_eq!(pcm.control_path(), ControlPath::Mapped);
        pcm.prepare().expect("prepare");
        pcm.start().expect("start");
        let period = pcm.layout().period_size;
        let mut max_diff = 0;
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(7));
            let page = pcm.status_synced().expect("page");
            let ioctl = pcm.status_via_sync_ptr(false).expect("sync_ptr");
            let page2 = pcm.status().expect("page again");
            assert_eq!(page.state, ioctl.state);
            // SYNC_PTR (no hwsync) reports what the page holds; only a
            // period interrupt between the reads may move it.
            let diff = ioctl.hw_ptr.wrapping_sub(page.hw_ptr);
            assert!(diff <= period, "{dev}: page {page:?} vs ioctl {ioctl:?}");
            assert!(page2.hw_ptr.wrapping_sub(ioctl.hw_ptr) <= period);
            max_diff = max_diff.max(diff);
        }
        out(&format!(
            "sync_ptr-vs-page | {dev}: max difference {max_diff} frames (period {period})"
        ));
        // appl_ptr written through the control page reads back through SYNC_PTR.
        let hw = pcm.status_synced().expect("status").hw_ptr;
        pcm.set_appl_ptr(hw + 100).expect("appl");
        assert_eq!(pcm.appl_ptr().expect("appl"), hw + 100);
        pcm.drop_stream().expect("drop");
    }
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn forced_sync_ptr_moves_appl_ptr() {
    let c = Config {
        force_sync_ptr: true,
        ..cfg(Some(Format::S16Le), 48_000, 480, 4)
    };
    let mut pcm = Pcm::open(DUMMY, Direction::Playback, &c).expect("open");
    assert_eq!(pcm.status_path(), StatusPath::SyncPtr);
    assert_eq!(pcm.control_path(), ControlPath::SyncPtr);
    pcm.prepare().expect("prepare");
    assert_eq!(pcm.appl_ptr().expect("appl"), 0);
    pcm.set_appl_ptr(960).expect("set appl");
    assert_eq!(pcm.appl_ptr().expect("appl"), 960);
    assert_eq!(pcm.avail().expect("avail"), 1920 - 960);
}

fn samples_to_bytes(format: Format, n: usize, seed: u32) -> (Vec<u8>, Vec<i32>) {
    match format {
        Format::S16Le => {
            let s = test_pattern_i16(n, seed);
            (
                s.iter().flat_map(|v| v.to_le_bytes()).collect(),
                s.iter().map(|&v| i32::from(v)).collect(),
            )
        }
        Format::S32Le => {
            let s = test_pattern_i32(n, seed);
            (s.iter().flat_map(|v| v.to_le_bytes()).collect(), s)
        }
        f => panic!("no pattern for {f}"),
    }
}

fn bytes_to_samples(format: Format, b: &[u8]) -> Vec<i32> {
    match format {
        Format::S16Le => b
            .chunks_exact(2)
            .map(|c| i32::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        Format::S32Le => b
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        f => panic!("no pattern for {f}"),
    }
}

/// Loops `format` through snd-aloop; a run the guest stalled (a busy
/// host: the test's own capture overran or its playback underran, which
/// plain reads and writes from a normal thread cannot prevent) is retried,
/// up to three attempts; the bit-exact check applies to a clean run.
fn loopback(format: Format) {
    let mut stalls = Vec::new();
    for attempt in 1..=3 {
        match loopback_attempt(format) {
            Ok(()) => return,
            Err(e) => {
                out(&format!(
                    "loopback | {format}: attempt {attempt} stalled: {e}"
                ));
                stalls.push(e);
            }
        }
    }
    panic!("{format}: every attempt stalled: {stalls:?}");
}

fn loopback_attempt(format: Format) -> Result<(), String> {
    let c = Config {
        format: Some(format),
        rate: 48_000,
        rate_match: Match::Exact,
        period_size: 512,
        buffer: BufferSize::Periods(8),
        ..Config::default()
    };
    let mut play = Pcm::open("hw:Loopback,0,0", Direction::Playback, &c).expect("open playback");
    let mut cap = Pcm::open("hw:Loopback,1,0", Direction::Capture, &c).expect("open capture");
    assert_eq!(play.hw_config(), cap.hw_config(), "both ends must agree");
    let fb = play.layout().frame_bytes();
    let channels = play.layout().channels as usize;
    let signal_frames = 12_000; // 0.25 s
    let (pattern, expected) = samples_to_bytes(format, signal_frames * channels, 0x5eed);
    // Silence first, so the capture has leading silence by construction.
    let lead_frames = 1000;
    let mut signal = vec![0u8; lead_frames * fb];
    signal.extend_from_slice(&pattern);

    play.prepare().expect("prepare playback");
    cap.prepare().expect("prepare capture");
    cap.start().expect("start capture");
    let mut sent = play.write_frames(&signal).expect("prefill") * fb;
    play.start().expect("start playback");

    let mut captured = Vec::new();
    let mut chunk = vec![0u8; cap.ring().len()];
    let t0 = Instant::now();
    let want = (signal_frames + 2 * play.layout().buffer_size as usize) * fb;
    let mut after_signal = 0usize;
    while t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(2));
        if sent < signal.len() {
            let st = play.status_synced().expect("play status");
            let appl = play.appl_ptr().expect("appl");
            if appl.wrapping_sub(st.hw_ptr) > play.layout().buffer_size {
                return Err(format!(
                    "playback underrun: hw_ptr {} passed appl_ptr {appl}",
                    st.hw_ptr
                ));
            }
            sent += play
                .write_frames(&signal[sent..])
                .map_err(|e| format!("write: {e}"))?
                * fb;
        }
        let n = read_capture(&mut cap, &mut chunk).map_err(|e| format!("read: {e}"))? * fb;
        captured.extend_from_slice(&chunk[..n]);
        if sent == signal.len() {
            after_signal += n;
            if after_signal >= want {
                break;
            }
        }
    }
    play.drop_stream().expect("drop playback");
    cap.drop_stream().expect("drop capture");
    let samples = bytes_to_samples(format, &captured);
    let at = find_signal(&samples, &expected).unwrap_or_else(|m| {
        panic!(
            "{format}: the played signal is not in the capture ({} frames captured): {m}",
            captured.len() / fb
        )
    });
    assert_eq!(at % channels, 0, "signal not frame-aligned");
    assert!(
        at / channels >= lead_frames,
        "signal before its leading silence"
    );
    out(&format!(
        "loopback | {format}: {signal_frames} frames found bit-exact after {} frames of silence ({} frames captured)",
        at / channels,
        captured.len() / fb
    ));
    Ok(())
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn loopback_is_bit_exact_s16() {
    loopback(Format::S16Le);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn loopback_is_bit_exact_s32() {
    loopback(Format::S32Le);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn missing_cards_are_no_such_device() {
    for name in ["hw:9,0", "hw:NoSuchCard,0", "hw:Dummy,7", "hw:Dummy,0,99"] {
        match Pcm::open(name, Direction::Playback, &Config::default()) {
            Err(e @ Error::NoSuchDevice { .. }) => {
                assert!(e.to_string().contains(name), "{e}");
                out(&format!("error | {name}: {e}"));
            }
            other => panic!("{name}: expected NoSuchDevice, got {other:?}"),
        }
    }
    match Pcm::open("plughw:0,0", Direction::Playback, &Config::default()) {
        Err(Error::BadDeviceName { .. }) => {}
        other => panic!("expected BadDeviceName, got {other:?}"),
    }
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn unsupported_requests_say_what_is_allowed() {
    let cases = [
        (cfg(Some(Format::F32Le), 48_000, 1024, 4), "FLOAT_LE"),
        (
            Config {
                rate_match: Match::Exact,
                ..cfg(Some(Format::S16Le), 96_000, 1024, 4)
            },
            "96000",
        ),
        (
            Config {
                channels: 8,
                ..cfg(Some(Format::S16Le), 48_000, 1024, 4)
            },
            "8 channels",
        ),
        (cfg(Some(Format::S16Le), 0, 1024, 4), "0 Hz"),
    ];
    for (c, needle) in cases {
        match Pcm::open(DUMMY, Direction::Playback, &c) {
            Err(e @ Error::Unsupported { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(needle), "{msg}");
                out(&format!("error | {msg}"));
            }
            other => panic!("{c:?}: expected Unsupported, got {other:?}"),
        }
    }
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn busy_subdevice_is_busy() {
    let c = cfg(Some(Format::S16Le), 48_000, 1024, 4);
    let first = Pcm::open("hw:Dummy,0,0", Direction::Playback, &c).expect("first open");
    assert_eq!(first.info().subdevice, 0);
    match Pcm::open("hw:Dummy,0,0", Direction::Playback, &c) {
        Err(e @ Error::Busy { .. }) => {
            assert!(e.to_string().contains("another program"), "{e}");
            out(&format!("error | {e}"));
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    // Any free subdevice still opens, and it is not subdevice 0.
    let second = Pcm::open("hw:Dummy,0", Direction::Playback, &c).expect("second open");
    assert_ne!(second.info().subdevice, 0);
    // Exhaust the rest, then one more is Busy.
    let mut held = vec![first, second];
    let count = held[0].info().subdevices_count as usize;
    while held.len() < count {
        held.push(Pcm::open("hw:Dummy,0", Direction::Playback, &c).expect("open"));
    }
    assert!(matches!(
        Pcm::open("hw:Dummy,0", Direction::Playback, &c),
        Err(Error::Busy { .. })
    ));
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn closed_fd_gives_clean_errors() {
    let c = cfg(Some(Format::S16Le), 48_000, 1024, 4);
    let mut pcm = Pcm::open(DUMMY, Direction::Playback, &c).expect("open");
    pcm.prepare().expect("prepare");
    pcm.close();
    assert!(pcm.poll_fd().is_none());
    for r in [pcm.prepare(), pcm.start(), pcm.drop_stream(), pcm.hwsync()] {
        match r {
            Err(e @ Error::BadState { .. }) => assert!(e.to_string().contains("closed"), "{e}"),
            other => panic!("expected BadState(closed), got {other:?}"),
        }
    }
    // The mapped status page outlives the fd: it still reads.
    assert_eq!(pcm.state().expect("state"), PcmState::Prepared);

    // Same through SYNC_PTR: no page, so a clean error.
    let mut pcm = Pcm::open(
        DUMMY,
        Direction::Playback,
        &Config {
            force_sync_ptr: true,
            ..c
        },
    )
    .expect("open");
    pcm.close();
    assert!(matches!(pcm.position(), Err(DeviceError::Closed)));
    assert!(matches!(pcm.commit(10), Err(DeviceError::Closed)));
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn stop_on_xrun_mode_stops() {
    let c = Config {
        sw: SwConfig {
            xrun: XrunMode::StopOnXrun,
            ..SwConfig::default()
        },
        ..cfg(Some(Format::S16Le), 48_000, 256, 2)
    };
    let mut pcm = Pcm::open(DUMMY, Direction::Playback, &c).expect("open");
    assert_eq!(pcm.sw_config().stop_threshold, pcm.layout().buffer_size);
    pcm.prepare().expect("prepare");
    // START refuses an empty ring in this mode (EPIPE): queue one period.
    pcm.set_appl_ptr(256).expect("queue");
    pcm.start().expect("start");
    // Nothing more queued: the stream underruns within ~5 ms.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(pcm.state().expect("state"), PcmState::Xrun);
}

/// Reads what the capture holds; `Err` (an overrun) also when the
/// hardware overtook the frames while they were being copied (a torn
/// read: the guest stalled mid-copy), so such frames are never used.
fn read_capture(cap: &mut Pcm, chunk: &mut [u8]) -> pcmring::Result<usize> {
    let n = cap.read_frames(chunk)?;
    let after = cap.avail()?;
    if after + n as u64 > cap.layout().buffer_size {
        return Err(pcmring::Error::BadState {
            device: cap.name().to_owned(),
            state: format!("overrun while {n} frames were being read"),
        });
    }
    Ok(n)
}
