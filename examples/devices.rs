//! Lists the ALSA PCM devices of this machine, as pcmring sees them
//! (raw control-device ioctls, no alsa-lib).
//!
//! ```text
//! cargo run --example devices
//! ```

use pcmring::pcm::{Direction, PcmDevice};
use std::process::ExitCode;

const HELP: &str = "\
usage: devices [--help]

Lists every ALSA PCM device (card, device, direction, subdevices) found
through /dev/snd/controlC*, with the hw: name to open it with, e.g.
`hw:Loopback,0`. Prints a note and exits successfully when the machine has
no sound card.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    if let Some(a) = args.first() {
        eprintln!("devices: unknown argument {a:?}\n\n{HELP}");
        return ExitCode::from(2);
    }
    let devices = match PcmDevice::list() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("devices: {e}");
            return ExitCode::FAILURE;
        }
    };
    if devices.is_empty() {
        println!(
            "No ALSA PCM devices found (no sound card: /dev/snd has no control devices).\n\
             Load a virtual card to try pcmring, e.g. `modprobe snd-dummy` or `modprobe snd-aloop`."
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<16} {:>4} {:<12} {:>3} {:<9} {:>7}  name",
        "hw name", "card", "card id", "dev", "direction", "subdevs"
    );
    for d in &devices {
        let dir = match d.direction {
            Direction::Playback => "playback",
            Direction::Capture => "capture",
        };
        println!(
            "{:<16} {:>4} {:<12} {:>3} {:<9} {:>3}/{:<3}  {} ({})",
            d.hw_name(),
            d.card,
            d.card_id,
            d.device,
            dir,
            d.subdevices_free,
            d.subdevices,
            d.name,
            d.card_name
        );
    }
    ExitCode::SUCCESS
}
