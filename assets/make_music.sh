#!/bin/sh
# Makes assets/music.ogg, the streamed music of the game example: the demo
# arpeggio (assets/demo.wav, written by `cargo run --example make_demo`)
# encoded to Ogg Vorbis with Debian's oggenc (apt-get install vorbis-tools).
set -eu
cd "$(dirname "$0")/.."
[ -f assets/demo.wav ] || cargo run --quiet --example make_demo -- assets/demo.wav
oggenc -Q -q 4 -o assets/music.ogg assets/demo.wav
echo "wrote assets/music.ogg"
