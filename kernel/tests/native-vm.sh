#!/usr/bin/env bash
# kernel/tests/native-vm.sh: runtime test of kernel/patches/ (the native
# SNDRV_PCM_IOCTL_ANONYMOUS_DUP) without building a whole kernel.
#
# Applies the patch to sound/core of Debian's linux-source-6.12, builds the
# patched snd-pcm.ko out of tree (plus snd-pcm-anondup.ko) against the
# 6.12 headers, and runs the security suite in the VM rig with the stock
# snd-pcm replaced by the patched one. The flag file /tmp/anondup-native
# makes engine/tests/vm_anondup.rs take its BUFFER fds from the native ioctl.
#
# Needs: apt-get install linux-source-6.12. Expect the rig to list one
# "problem: guest: insmod snd-pcm.ko" (the guest /init tries to load the
# patched snd-pcm over the stock one before VM_SHELL_CMD swaps them); the
# test result line is what counts. Exit status: 0 if every test passed.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KDIR=$HERE/..
REPO=$(cd "$KDIR/.." && pwd)
SRC=${LINUX_SOURCE:-/usr/src/linux-source-6.12.tar.xz}
[[ -f $SRC ]] || { echo "native-vm: $SRC missing (apt-get install linux-source-6.12)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/anondup-native.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
top=$(basename "$SRC" .tar.xz)   # linux-source-6.12
tar -C "$WORK" -xf "$SRC" "$top/sound/core" "$top/include/uapi/sound"
(cd "$WORK/$top" && patch -p1 -s <"$KDIR/patches/0001-ALSA-pcm-native-anonymous-dup.patch")

M=$WORK/kmod
mkdir -p "$M/inc/uapi/sound"
cp "$WORK/$top"/sound/core/*.[ch] "$M/"
cp "$WORK/$top/include/uapi/sound/anondup.h" "$M/inc/uapi/sound/"
cp "$KDIR"/anondup_dev.c "$KDIR"/anondup_file.c "$KDIR"/anondup_mm.c "$KDIR"/anondup_priv.h "$M/"
mkdir -p "$M/include/uapi/sound" && cp "$KDIR/include/uapi/sound/anondup.h" "$M/include/uapi/sound/"
# The distribution headers' asound.h lacks the new number.
printf '#include <linux/ioctl.h>\n#define SNDRV_PCM_IOCTL_ANONYMOUS_DUP _IOWR(%s, 0x05, int)\n#define SNDRV_PCM_IOCTL_ANONYMOUS_REVOKE _IO(%s, 0x06)\n' "'A'" "'A'" \
    >"$M/inc/asound-patch.h"
cat >"$M/Kbuild" <<'KBUILD'
obj-m := snd-pcm.o snd-pcm-anondup.o
snd-pcm-y := pcm.o pcm_native.o pcm_lib.o pcm_misc.o pcm_memory.o memalloc.o \
	pcm_anondup.o pcm_anondup_file.o pcm_anondup_mm.o pcm_timer.o
snd-pcm-anondup-y := anondup_dev.o anondup_file.o anondup_mm.o
CFLAGS_pcm_anondup_file.o := -DANONDUP_NATIVE
ccflags-y := -I$(src)/inc -I$(src) -include $(src)/inc/asound-patch.h
ifneq ($(shell grep -s -w -l vm_flags_clear $(srctree)/include/linux/mm.h),)
ccflags-y += -DANONDUP_HAVE_VM_FLAGS_SETTERS
endif
KBUILD
echo 'all:' >"$M/Makefile"

swap='rmmod snd_pcm_anondup; rmmod snd_aloop; rmmod snd_dummy;
rmmod snd_pcm && insmod /vm/kmod/snd-pcm.ko && echo NATIVE-SNDPCM-LOADED;
insmod $(grep snd-dummy /vm/modules); insmod $(grep snd-aloop /vm/modules);
insmod /vm/kmod/snd-pcm-anondup.ko; touch /tmp/anondup-native'
log=$WORK/run.log
KERNEL=6.12 VM_KMOD_DIR=$M VM_BINS=vm_anondup VM_SHELL_CMD="$swap" \
    "$REPO/kernel/vm/run" 2>&1 | tee "$log" || true
grep -q NATIVE-SNDPCM-LOADED "$log" || { echo "native-vm: the patched snd-pcm did not load" >&2; exit 1; }
grep -qE 'VM-SUM pcmring.vm_anondup test result: ok\.' "$log" || { echo "native-vm: FAILED" >&2; exit 1; }
echo "native-vm: the security suite passed against the native ioctl"
