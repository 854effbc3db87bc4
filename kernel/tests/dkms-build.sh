#!/usr/bin/env bash
# kernel/tests/dkms-build.sh: builds snd-pcm-anondup with the `dkms` tool
# from kernel/dkms.conf against Debian kernel headers, in private trees
# (nothing is installed on the machine). With no argument it uses the
# headers the VM rig prepares for KERNEL=6.1 and KERNEL=6.12
# (kernel/vm/run --kdir); or give kbuild directories as arguments.
# Needs: apt-get install dkms. Exit status 0 if every build produced the .ko.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KMOD=$(cd "$HERE/.." && pwd)
command -v dkms >/dev/null || { echo "dkms-build: dkms is missing (apt-get install dkms)" >&2; exit 2; }
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$KMOD/dkms.conf")
kdirs=("$@")
if [[ ${#kdirs[@]} == 0 ]]; then
    for k in 6.1 6.12; do kdirs+=("$(KERNEL=$k "$KMOD/vm/run" --kdir)"); done
fi
work=$(mktemp -d /tmp/anondup-dkms.XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$work/src/snd-pcm-anondup-$ver
mkdir -p "$src" "$work/dkms" "$work/install"
tar -C "$KMOD" --exclude=./vm --exclude=./tests --exclude='*.o' --exclude='*.ko' \
    --exclude='.*.cmd' --exclude='*.mod*' --exclude=Module.symvers --exclude=modules.order \
    -cf - . | tar -C "$src" -xf -
dk=(dkms --dkmstree "$work/dkms" --sourcetree "$work/src" --installtree "$work/install")
"${dk[@]}" add -m snd-pcm-anondup -v "$ver" >/dev/null
status=0
for kdir in "${kdirs[@]}"; do
    kver=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kdir/include/generated/utsrelease.h")
    if "${dk[@]}" build -m snd-pcm-anondup -v "$ver" -k "$kver" --kernelsourcedir "$kdir" >"$work/build.log" 2>&1 &&
        ko=$(find "$work/dkms/snd-pcm-anondup/$ver/$kver" -name 'snd-pcm-anondup.ko*' | head -1) && [[ -n $ko ]]; then
        echo "dkms-build: ok: $kver -> ${ko#"$work/dkms/"}"
    else
        echo "dkms-build: FAILED for $kver:"; tail -20 "$work/build.log"
        find "$work/dkms" -name make.log -exec tail -20 {} \;
        status=1
    fi
done
exit $status
