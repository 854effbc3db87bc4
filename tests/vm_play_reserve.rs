//! How the examples choose the card when a sound server holds it (runs in
//! the VM suite, `kernel/vm/run`): a holder process keeps every substream
//! of snd-dummy (card 0, the first playback card) open and owns its
//! reservation on a private bus (see `engine/tests/reserve_support`).
//!
//! - it gives the card up: `output::open` (what `play` calls) takes it,
//!   says from whom, and gives it back when the device is dropped;
//! - it keeps the card: the error names it, and there is no silent
//!   fall-back to the simulated device;
//! - `--no-reserve`: EBUSY, and the error names the process from /proc.

#[path = "../engine/tests/reserve_support/mod.rs"]
mod reserve_support;

use pcmring::reserve::{BusAddress, ReserveConfig};
use pcmring::Format;
use pcmring_examples::output::{self, Choice, Request};
use reserve_support::{Bus, Holder, HolderSpec};

const NODE: &str = "/dev/snd/pcmC0D0p";

/// Not a test: the holder process's entry point (see `reserve_support`).
#[test]
fn holder_process() {
    reserve_support::holder_main_if_asked();
}

fn request(reserve: ReserveConfig) -> Request {
    Request {
        channels: 2,
        rate: 48_000,
        sim_format: Format::S16Le,
        period: 512,
        buffer: 2048,
        sim_out: std::env::temp_dir().join("pcmring-vm-play-reserve.wav"),
        sim_record_frames: 0,
        reserve,
    }
}

fn reserve_on(bus: &Bus) -> ReserveConfig {
    ReserveConfig {
        bus: BusAddress::Address(bus.address.clone()),
        ..ReserveConfig::new("pcmring play")
    }
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn play_takes_the_card_from_the_sound_server_and_gives_it_back() {
    let bus = Bus::start("vm-play-grant");
    let holder = Holder::start(&HolderSpec {
        bus: &bus.address,
        priority: -20,
        node: Some(NODE),
        hang: false,
    });
    let out =
        output::open(&Choice::Auto, &request(reserve_on(&bus))).unwrap_or_else(|e| panic!("{e}"));
    holder.expect("released");
    assert!(out.sim.is_none(), "fell back to the simulated device");
    assert!(out.label.starts_with("hw:Dummy,0"), "{}", out.label);
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("took the card from \"Test Sound Server\"")),
        "{:?}",
        out.notes
    );
    assert!(out.reservation.is_some());
    drop(out);
    holder.expect("reacquired");
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn play_names_a_holder_that_keeps_the_card_and_does_not_fall_back() {
    let bus = Bus::start("vm-play-refuse");
    let holder = Holder::start(&HolderSpec {
        bus: &bus.address,
        priority: 100,
        node: Some(NODE),
        hang: false,
    });
    let err = output::open(&Choice::Auto, &request(reserve_on(&bus))).unwrap_err();
    assert!(err.contains("\"Test Sound Server\""), "{err}");
    assert!(err.contains(&format!("pid {}", holder.pid)), "{err}");
    assert!(err.contains("--device sim"), "{err}");

    let err = output::open(&Choice::Auto, &request(ReserveConfig::disabled())).unwrap_err();
    assert!(err.contains("hw:Dummy,0 is busy"), "{err}");
    assert!(
        err.contains(&format!("(pid {}, {NODE})", holder.pid)),
        "{err}"
    );

    // Asked for, the simulated device is used without a word.
    let out = output::open(&Choice::Sim, &request(reserve_on(&bus))).unwrap();
    assert!(out.sim.is_some());
    assert!(out.notes.is_empty(), "{:?}", out.notes);
    output::Output::finish_sim(out.sim).unwrap();
}
