//! Cross-checks the hand-written ABI mirror against the real
//! `<sound/asound.h>`: every size, offset, ioctl number and constant of
//! `pcmring::sys::abi::layout_table()` is evaluated by a C compiler, once
//! with the header's default (legacy) names and once with
//! `-D__SND_STRUCT_TIME64` (the time64 layouts under the plain names).

use pcmring::sys::abi::{layout_table, CheckMode, LayoutEntry};
use std::path::{Path, PathBuf};
use std::process::Command;

const HEADER: &str = "/usr/include/sound/asound.h";

fn c_source(entries: &[&LayoutEntry]) -> String {
    let mut s = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n\
         #include <time.h>\n#include <sys/ioctl.h>\n#include <sound/asound.h>\n\nint main(void)\n{\n",
    );
    for (i, e) in entries.iter().enumerate() {
        s.push_str(&format!(
            "\tprintf(\"{i} %llu\\n\", (unsigned long long)({}));\n",
            e.c_expr
        ));
    }
    s.push_str("\treturn 0;\n}\n");
    s
}

fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pcmring-abi-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Compiles and runs the C side; returns the values in entry order.
fn c_values(dir: &Path, tag: &str, defines: &[&str], entries: &[&LayoutEntry]) -> Vec<u64> {
    let src = dir.join(format!("abi_{tag}.c"));
    let bin = dir.join(format!("abi_{tag}"));
    std::fs::write(&src, c_source(entries)).expect("write C source");
    let out = Command::new("cc")
        .args(defines)
        .arg("-std=gnu11")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `cc` ({e}): install gcc and linux-libc-dev (apt-get install gcc linux-libc-dev)")
        });
    assert!(
        out.status.success(),
        "C cross-check ({tag}) failed to compile; a mirrored name does not exist in {HEADER}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&bin).output().expect("run the C cross-check");
    assert!(run.status.success(), "C cross-check ({tag}) failed to run");
    let text = String::from_utf8(run.stdout).expect("C output is UTF-8");
    let mut vals = vec![None; entries.len()];
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let i: usize = it.next().and_then(|v| v.parse().ok()).expect("index");
        let v: u64 = it.next().and_then(|v| v.parse().ok()).expect("value");
        vals[i] = Some(v);
    }
    vals.into_iter()
        .enumerate()
        .map(|(i, v)| v.unwrap_or_else(|| panic!("no C value for {}", entries[i].c_expr)))
        .collect()
}

fn check(tag: &str, defines: &[&str], skip: CheckMode) -> usize {
    assert!(
        Path::new(HEADER).exists(),
        "{HEADER} is missing: install linux-libc-dev (apt-get install linux-libc-dev)"
    );
    let table = layout_table();
    let entries: Vec<&LayoutEntry> = table.iter().filter(|e| e.mode != skip).collect();
    let dir = scratch_dir(tag);
    let c = c_values(&dir, tag, defines, &entries);
    let _ = std::fs::remove_dir_all(&dir);
    let mismatches: Vec<String> = entries
        .iter()
        .zip(&c)
        .filter(|(e, c)| e.value != **c)
        .map(|(e, c)| {
            format!(
                "  {}: rust {} (0x{:x}), C {} (0x{:x})",
                e.c_expr, e.value, e.value, c, c
            )
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "ABI mismatches against {HEADER} ({tag}):\n{}",
        mismatches.join("\n")
    );
    entries.len()
}

#[test]
fn legacy_layout_matches_the_header() {
    let n = check("legacy", &[], CheckMode::Time64);
    assert!(n > 150, "only {n} entries checked");
}

#[test]
fn time64_layout_matches_the_header() {
    let n = check("time64", &["-D__SND_STRUCT_TIME64"], CheckMode::Legacy);
    assert!(n > 150, "only {n} entries checked");
}

#[test]
fn the_check_catches_a_wrong_value() {
    // A deliberately wrong entry must be reported: the comparison is real.
    let bogus = LayoutEntry {
        c_expr: "sizeof(struct snd_pcm_hw_params)",
        value: 607,
        mode: CheckMode::Both,
    };
    let dir = scratch_dir("bogus");
    let c = c_values(&dir, "bogus", &[], &[&bogus]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_ne!(c[0], bogus.value);
}
