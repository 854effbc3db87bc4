//! Device reservation against a real `dbus-daemon` and a holder process
//! that behaves like PipeWire (see `reserve_support`). No sound card is
//! needed: the reservation is on card 0 by name, and the engine runs on
//! the simulated device wrapped in the reservation. The VM suite
//! (`vm_reserve.rs`) repeats this with snd-dummy really held open.
#![cfg(feature = "reserve")]

mod reserve_support;

use pcmring::engine::{Engine, EngineConfig};
use pcmring::mixer::MixerBuilder;
use pcmring::reserve::{
    reserve_device, BusAddress, OnRequest, ReleaseRequest, ReserveConfig, ReserveError, Reserved,
};
use pcmring::sim::{SimConfig, SimDac};
use pcmring::{Format, StreamLayout};
use reserve_support::{owner_pid, request_release, Bus, Holder, HolderSpec};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NAME: &str = "org.freedesktop.ReserveDevice1.Audio0";

/// Not a test: the holder process's entry point (see `reserve_support`).
#[test]
fn holder_process() {
    reserve_support::holder_main_if_asked();
}

fn config(bus: &Bus, priority: i32) -> ReserveConfig {
    ReserveConfig {
        priority,
        bus: BusAddress::Address(bus.address.clone()),
        ..ReserveConfig::new("pcmring test")
    }
}

fn start_engine_on_sim(reservation: pcmring::reserve::Reservation) -> (Engine, SimDac) {
    let layout = StreamLayout {
        format: Format::S16Le,
        channels: 2,
        rate: 48_000,
        period_size: 240,
        buffer_size: 960,
        boundary: 960 << 20,
    };
    let dac = SimDac::start(SimConfig::new(layout)).unwrap();
    let (_mixer, renderer) = MixerBuilder::new(48_000).build();
    let device = Reserved::new(dac.device().unwrap(), reservation);
    let engine = Engine::start(device, renderer, EngineConfig::default()).unwrap();
    (engine, dac)
}

#[test]
fn takes_the_card_when_the_holder_grants_and_gives_it_back_on_stop() {
    let bus = Bus::start("grant");
    let holder = Holder::start(&HolderSpec {
        bus: &bus.address,
        priority: -20, // PipeWire's
        node: None,
        hang: false,
    });
    assert_eq!(owner_pid(&bus.address, NAME), Some(holder.pid));

    let reservation = reserve_device("hw:0,0", &config(&bus, 10)).unwrap();
    assert!(reservation.is_held(), "{:?}", reservation.note());
    assert_eq!(holder.expect("released"), "released to 10");
    let previous = reservation.previous_holder().unwrap();
    assert_eq!(
        previous.application_name.as_deref(),
        Some("Test Sound Server")
    );
    assert_eq!(previous.pid, Some(holder.pid));
    assert_eq!(owner_pid(&bus.address, NAME), Some(std::process::id()));

    // The engine holds the card while it runs...
    let (engine, dac) = start_engine_on_sim(reservation);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(owner_pid(&bus.address, NAME), Some(std::process::id()));
    // ...and gives it back when it stops: the holder takes it again.
    engine.stop().unwrap();
    holder.expect("reacquired");
    assert_eq!(owner_pid(&bus.address, NAME), Some(holder.pid));
    dac.stop().unwrap();
}

#[test]
fn a_holder_that_refuses_is_named_in_a_typed_error() {
    let bus = Bus::start("refuse");
    let holder = Holder::start(&HolderSpec {
        bus: &bus.address,
        priority: 100,
        node: None,
        hang: false,
    });
    let err = reserve_device("hw:0,0", &config(&bus, 10)).unwrap_err();
    assert_eq!(holder.expect("refused"), "refused 10");
    let ReserveError::Refused {
        card,
        holder: who,
        priority,
        detail,
    } = &err
    else {
        panic!("expected Refused, got {err:?}");
    };
    assert_eq!((*card, *priority, detail), (0, 10, &None));
    assert_eq!(who.application_name.as_deref(), Some("Test Sound Server"));
    assert_eq!(who.pid, Some(holder.pid));
    assert_eq!(who.priority, Some(100));
    let msg = err.to_string();
    assert!(msg.contains("\"Test Sound Server\""), "{msg}");
    assert!(msg.contains(&format!("pid {}", holder.pid)), "{msg}");
    assert!(msg.contains("higher priority than 100"), "{msg}");
    // The holder still has it.
    assert_eq!(owner_pid(&bus.address, NAME), Some(holder.pid));
}

#[test]
fn a_higher_priority_request_is_refused_under_the_refuse_policy() {
    let bus = Bus::start("policy-refuse");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let cfg = config(&bus, 10).with_hook(move |r: &ReleaseRequest| seen2.lock().unwrap().push(*r));
    let reservation = reserve_device("hw:0,0", &cfg).unwrap();
    assert!(reservation.is_held());
    let (engine, dac) = start_engine_on_sim(reservation);
    assert!(!request_release(&bus.address, 50).unwrap());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![ReleaseRequest {
            priority: 50,
            granted: false
        }]
    );
    assert!(engine.is_running());
    assert_eq!(owner_pid(&bus.address, NAME), Some(std::process::id()));
    engine.stop().unwrap();
    dac.stop().unwrap();
}

#[test]
fn a_higher_priority_request_stops_the_engine_under_the_release_policy() {
    let bus = Bus::start("policy-release");
    let cfg = ReserveConfig {
        on_request: OnRequest::Release {
            timeout: Duration::from_secs(60),
        },
        ..config(&bus, 10)
    };
    let reservation = reserve_device("hw:0,0", &cfg).unwrap();
    let watch = reservation.watch();
    let (engine, dac) = start_engine_on_sim(reservation);

    // A lower priority is refused at once, and nothing changes.
    assert!(!request_release(&bus.address, 5).unwrap());
    assert_eq!(watch.release_requested(), None);

    // A higher one waits for the engine to stop and the device to close.
    let address = bus.address.clone();
    let requester = std::thread::spawn(move || request_release(&address, 50));
    while watch.release_requested().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(watch.release_requested(), Some(50));
    assert!(
        !requester.is_finished(),
        "answered before the device closed"
    );
    assert!(!watch.is_closed());
    engine.stop().unwrap(); // what the application does on the request
    assert!(watch.is_closed());
    assert!(requester.join().unwrap().unwrap());
    dac.stop().unwrap();
}

#[test]
fn no_bus_opens_plainly_with_a_clear_note() {
    let dir = std::env::temp_dir().join(format!("pcmring-nobus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = ReserveConfig {
        bus: BusAddress::Address(format!("unix:path={}/no-such-bus", dir.display())),
        ..ReserveConfig::new("pcmring test")
    };
    let reservation = reserve_device("hw:0,0", &cfg).unwrap();
    assert!(!reservation.is_held());
    let note = reservation.note().unwrap();
    assert!(note.contains("cannot connect to the session bus"), "{note}");
    assert!(note.contains("without reserving"), "{note}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With no session bus in the environment at all (no
/// DBUS_SESSION_BUS_ADDRESS, no $XDG_RUNTIME_DIR/bus): checked in a child
/// process so this process's environment stays as it is.
#[test]
fn no_session_bus_in_the_environment_opens_plainly() {
    if std::env::var_os("PCMRING_TEST_NO_BUS_CHILD").is_some() {
        let r = reserve_device("hw:0,0", &ReserveConfig::default()).unwrap();
        println!("NOTE held={} {}", r.is_held(), r.note().unwrap_or(""));
        return;
    }
    let dir = std::env::temp_dir().join(format!("pcmring-norun-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "no_session_bus_in_the_environment_opens_plainly",
            "--exact",
            "--nocapture",
            "--include-ignored",
        ])
        .env("PCMRING_TEST_NO_BUS_CHILD", "1")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("NOTE")).unwrap();
    assert!(line.starts_with("NOTE held=false no session bus"), "{line}");
    assert!(
        line.contains("opening the card without reserving it"),
        "{line}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reservation_off_asks_no_one() {
    let bus = Bus::start("off");
    let holder = Holder::start(&HolderSpec {
        bus: &bus.address,
        priority: -20,
        node: None,
        hang: false,
    });
    let cfg = ReserveConfig {
        enabled: false,
        ..config(&bus, 10)
    };
    let r = reserve_device("hw:0,0", &cfg).unwrap();
    assert!(!r.is_held());
    assert_eq!(r.note(), Some("reservation is off"));
    assert_eq!(owner_pid(&bus.address, NAME), Some(holder.pid));
}

#[test]
fn a_holder_that_never_answers_is_a_refusal_after_the_call_timeout() {
    let bus = Bus::start("hang");
    let holder = Holder::start(&HolderSpec {
        bus: &bus.address,
        priority: -20,
        node: None,
        hang: true,
    });
    let cfg = ReserveConfig {
        call_timeout: Duration::from_millis(500),
        ..config(&bus, 10)
    };
    let err = reserve_device("hw:0,0", &cfg).unwrap_err();
    holder.expect("hangs");
    let ReserveError::Refused { detail, .. } = &err else {
        panic!("expected Refused, got {err:?}");
    };
    let detail = detail.as_deref().unwrap_or("");
    assert!(detail.contains("did not answer RequestRelease"), "{detail}");
}
