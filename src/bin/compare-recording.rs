//! `compare-recording --card CARD REC.wav CONSOLE.log`: the host-side check
//! of the real-card VM tests (run by `kernel/vm/run` after each card's
//! boot). Finds every signal the guest announced in the console log
//! (`VM-PLAYED card=CARD ...` lines) in qemu's recording, in order, and
//! checks it bit for bit ([`pcmring_examples::recording::compare`]).
//! Prints `bit-exact: <card> <test> frames=N ...` or `NOT bit-exact: <card>
//! <test>: why` per signal; exits 1 if any signal failed, 2 on bad input.

use pcmring_examples::recording::{compare, Played, Recording};
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("compare-recording: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (card, wav, log) = match args.as_slice() {
        [flag, card, wav, log] if flag == "--card" => (card, wav, log),
        _ => return Err("usage: compare-recording --card CARD REC.wav CONSOLE.log".into()),
    };
    let bytes = std::fs::read(wav).map_err(|e| format!("{wav}: {e}"))?;
    let rec = Recording::from_wav(&bytes).map_err(|e| format!("{wav}: {e}"))?;
    let text = std::fs::read_to_string(log).map_err(|e| format!("{log}: {e}"))?;
    println!(
        "recording: {wav}: {} frames, {} Hz, {} ch",
        rec.frames(),
        rec.rate,
        rec.channels
    );
    let mut all_ok = true;
    let mut from = 0u64;
    for line in text.lines() {
        let Some(parsed) = Played::parse(line) else {
            continue;
        };
        let played = parsed?;
        if played.card != *card {
            continue;
        }
        match compare(&rec, &played, from) {
            Ok(v) => {
                println!(
                    "bit-exact: {} {} frames={} at={} silent-after={} artefacts={}",
                    played.card,
                    played.test,
                    v.frames,
                    v.at,
                    v.silent_after,
                    v.artefact.as_deref().unwrap_or("none")
                );
                from = v.at + v.frames;
            }
            Err(e) => {
                println!("NOT bit-exact: {} {}: {e}", played.card, played.test);
                all_ok = false;
            }
        }
    }
    Ok(all_ok)
}
