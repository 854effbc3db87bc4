//! Device reservation with a real card (snd-dummy, card 0 in the guest):
//! a holder process that behaves like PipeWire keeps every substream of
//! `/dev/snd/pcmC0D0p` open, so EBUSY is real, and closes them when it
//! releases the card. Runs in the VM suite (`kernel/vm/run`, which puts
//! `dbus-daemon` in the guest); `reserve_bus.rs` covers the protocol and
//! the policies on the host.
#![cfg(feature = "reserve")]

mod reserve_support;

use pcmring::engine::{Engine, EngineConfig, Margin};
use pcmring::mixer::MixerBuilder;
use pcmring::pcm::{BufferSize, Config, Direction, Pcm};
use pcmring::reserve::{open_reserved, BusAddress, OnRequest, ReserveConfig, ReserveError};
use pcmring::{Error, Format};
use reserve_support::{owner_pid, request_release, Bus, Holder, HolderSpec};
use std::time::Duration;

const DUMMY: &str = "hw:Dummy,0";
const NODE: &str = "/dev/snd/pcmC0D0p";
const NAME: &str = "org.freedesktop.ReserveDevice1.Audio0";

/// Not a test: the holder process's entry point (see `reserve_support`).
#[test]
fn holder_process() {
    reserve_support::holder_main_if_asked();
}

fn pcm_config() -> Config {
    Config {
        format: Some(Format::S16Le),
        rate: 48_000,
        period_size: 512,
        buffer: BufferSize::Periods(4),
        ..Config::default()
    }
}

fn reserve_config(bus: &Bus, priority: i32) -> ReserveConfig {
    ReserveConfig {
        priority,
        bus: BusAddress::Address(bus.address.clone()),
        ..ReserveConfig::new("pcmring vm test")
    }
}

fn check_dummy_is_card_0() {
    assert_eq!(
        pcmring::reserve::card_index(DUMMY),
        Some(0),
        "the rig makes snd-dummy card 0"
    );
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn the_sound_server_gives_the_card_up_and_takes_it_back() {
    check_dummy_is_card_0();
    let bus = Bus::start("vm-grant");
    let holder = Holder::start(&HolderSpec {
        bus: &bus.address,
        priority: -20,
        node: Some(NODE),
        hang: false,
    });
    // The card is really busy while the holder has it.
    let busy = Pcm::open(DUMMY, Direction::Playback, &pcm_config()).unwrap_err();
    assert!(matches!(busy, Error::Busy { .. }), "{busy}");

    let mut dev = open_reserved(
        DUMMY,
        Direction::Playback,
        &pcm_config(),
        &reserve_config(&bus, 10),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(holder.expect("released"), "released to 10");
    assert!(dev.reservation().is_held());
    dev.device_mut().prepare().unwrap();
    dev.device_mut().start().unwrap();
    let (_mixer, renderer) = MixerBuilder::new(48_000).build();
    let config = EngineConfig {
        margin: Margin::Frames(1536),
        ..EngineConfig::default()
    };
    let engine = Engine::start(dev, renderer, config).unwrap();
    let t0 = engine.now_frames();
    for _ in 0..500 {
        if engine.now_frames() > t0 + 4_800 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(engine.now_frames() > t0, "the card did not play");
    assert_eq!(owner_pid(&bus.address, NAME), Some(std::process::id()));

    // Stopping closes the card and releases the name: the holder takes
    // both back, and the card is busy again.
    engine.stop().unwrap();
    holder.expect("reacquired");
    let busy = Pcm::open(DUMMY, Direction::Playback, &pcm_config()).unwrap_err();
    assert!(matches!(busy, Error::Busy { .. }), "{busy}");
    assert_eq!(owner_pid(&bus.address, NAME), Some(holder.pid));
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn a_card_kept_by_its_holder_names_the_holder() {
    check_dummy_is_card_0();
    let bus = Bus::start("vm-refuse");
    let holder = Holder::start(&HolderSpec {
        bus: &bus.address,
        priority: 100,
        node: Some(NODE),
        hang: false,
    });
    // Through the protocol: the holder refuses and is named.
    let err = open_reserved(
        DUMMY,
        Direction::Playback,
        &pcm_config(),
        &reserve_config(&bus, 10),
    )
    .unwrap_err();
    let ReserveError::Refused { holder: who, .. } = &err else {
        panic!("expected Refused, got {err:?}");
    };
    assert_eq!(who.pid, Some(holder.pid));
    assert!(err.to_string().contains("Test Sound Server"), "{err}");

    // Without the protocol: EBUSY, and the process holding the node is
    // named from /proc.
    let err = open_reserved(
        DUMMY,
        Direction::Playback,
        &pcm_config(),
        &ReserveConfig::disabled(),
    )
    .unwrap_err();
    let ReserveError::Busy {
        device, holders, ..
    } = &err
    else {
        panic!("expected Busy, got {err:?}");
    };
    assert_eq!(device, DUMMY);
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert_eq!(holders[0].pid, holder.pid);
    assert_eq!(holders[0].node, NODE);
    let msg = err.to_string();
    assert!(msg.contains(&format!("pid {}", holder.pid)), "{msg}");
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn with_no_session_bus_the_card_opens_plainly() {
    check_dummy_is_card_0();
    // The guest has no session bus; point at a missing one to be sure.
    let cfg = ReserveConfig {
        bus: BusAddress::Address("unix:path=/tmp/pcmring-no-such-bus".into()),
        ..ReserveConfig::new("pcmring vm test")
    };
    let dev = open_reserved(DUMMY, Direction::Playback, &pcm_config(), &cfg)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!dev.reservation().is_held());
    let note = dev.reservation().note().unwrap();
    assert!(note.contains("without reserving"), "{note}");
    drop(dev);
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        let dev = open_reserved(
            DUMMY,
            Direction::Playback,
            &pcm_config(),
            &ReserveConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let note = dev.reservation().note().unwrap_or("");
        assert!(note.starts_with("no session bus"), "{note}");
    }
}

/// Whether this process has `node` open.
fn self_holds(node: &str) -> bool {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.to_str() == Some(node)))
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn under_the_release_policy_a_higher_priority_requester_gets_the_card_closed() {
    check_dummy_is_card_0();
    let bus = Bus::start("vm-release");
    let cfg = ReserveConfig {
        on_request: OnRequest::Release {
            timeout: Duration::from_secs(60),
        },
        ..reserve_config(&bus, 10)
    };
    let mut dev = open_reserved(DUMMY, Direction::Playback, &pcm_config(), &cfg)
        .unwrap_or_else(|e| panic!("{e}"));
    let watch = dev.reservation().watch();
    dev.device_mut().prepare().unwrap();
    dev.device_mut().start().unwrap();
    let (_mixer, renderer) = MixerBuilder::new(48_000).build();
    let config = EngineConfig {
        margin: Margin::Frames(1536),
        ..EngineConfig::default()
    };
    let engine = Engine::start(dev, renderer, config).unwrap();
    assert!(self_holds(NODE));

    // A requester with priority 50: the answer comes once the card is
    // closed, so right after "true" this process holds no PCM node.
    let address = bus.address.clone();
    let requester = std::thread::spawn(move || {
        let granted = request_release(&address, 50).unwrap();
        (granted, self_holds(NODE))
    });
    while watch.release_requested().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(watch.release_requested(), Some(50));
    engine.stop().unwrap(); // what the application does on the request
    assert_eq!(requester.join().unwrap(), (true, false));
}
