#!/usr/bin/env bash
# kernel/patches/make-native-patch.sh: regenerates
# 0001-ALSA-pcm-native-anonymous-dup.patch from the module's own sources,
# so the native ioctl and the module share one implementation of the
# policy, the isolation of the source file and the revocation.
#
# The patch adds to sound/core of Debian's linux-source-6.12:
#   pcm_anondup.h       = anondup_priv.h (uapi include adjusted)
#   pcm_anondup_file.c  = anondup_file.c (built with -DANONDUP_NATIVE)
#   pcm_anondup_mm.c    = anondup_mm.c
#   pcm_anondup.c       = pcm_anondup_native.c (this directory): the
#                         ioctls on the PCM fd, instead of the misc device
# and the two ioctl numbers to asound.h, the cases to pcm_native.c and
# pcm_compat.c. Needs: apt-get install linux-source-6.12.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KMOD=$(cd "$HERE/.." && pwd)
SRC=${LINUX_SOURCE:-/usr/src/linux-source-6.12.tar.xz}
OUT=${1:-$HERE/0001-ALSA-pcm-native-anonymous-dup.patch}
[[ -f $SRC ]] || { echo "make-native-patch: $SRC missing (apt-get install linux-source-6.12)" >&2; exit 2; }
top=$(basename "$SRC" .tar.xz)
work=$(mktemp -d /tmp/anondup-native-patch.XXXXXX)
trap 'rm -rf "$work"' EXIT
files=(include/uapi/sound/asound.h sound/core/Makefile sound/core/pcm_local.h
    sound/core/pcm_native.c sound/core/pcm_compat.c)
tar -C "$work" -xf "$SRC" "${files[@]/#/$top/}"
mv "$work/$top" "$work/a"
cp -r "$work/a" "$work/b"
b=$work/b

python3 - "$b" <<'PY'
import sys
b = sys.argv[1]
def edit(path, old, new):
    p = f"{b}/{path}"
    s = open(p).read()
    assert s.count(old) == 1, (path, old)
    open(p, "w").write(s.replace(old, new))
edit("include/uapi/sound/asound.h",
     "#define SNDRV_PCM_IOCTL_USER_PVERSION\t_IOW('A', 0x04, int)\n",
     "#define SNDRV_PCM_IOCTL_USER_PVERSION\t_IOW('A', 0x04, int)\n"
     "#define SNDRV_PCM_IOCTL_ANONYMOUS_DUP\t_IOWR('A', 0x05, int)\n"
     "#define SNDRV_PCM_IOCTL_ANONYMOUS_REVOKE _IO('A', 0x06)\n")
edit("sound/core/Makefile",
     "\t\tpcm_memory.o memalloc.o\n",
     "\t\tpcm_memory.o memalloc.o pcm_anondup.o pcm_anondup_file.o \\\n"
     "\t\tpcm_anondup_mm.o\n"
     "CFLAGS_pcm_anondup_file.o := -DANONDUP_NATIVE -DANONDUP_HAVE_VM_FLAGS_SETTERS\n"
     "CFLAGS_pcm_anondup_mm.o := -DANONDUP_HAVE_VM_FLAGS_SETTERS\n")
edit("sound/core/pcm_local.h",
     "#endif\t/* __SOUND_CORE_PCM_LOCAL_H */",
     "int snd_pcm_anonymous_dup(struct file *file,\n"
     "\t\t\t  struct snd_pcm_substream *substream,\n"
     "\t\t\t  int __user *arg);\n"
     "int snd_pcm_anonymous_revoke(struct file *file);\n\n"
     "#endif\t/* __SOUND_CORE_PCM_LOCAL_H */")
edit("sound/core/pcm_native.c",
     "\t\treturn 0;\n\tcase SNDRV_PCM_IOCTL_HW_REFINE:\n",
     "\t\treturn 0;\n"
     "\tcase SNDRV_PCM_IOCTL_ANONYMOUS_DUP:\n"
     "\t\treturn snd_pcm_anonymous_dup(file, substream, arg);\n"
     "\tcase SNDRV_PCM_IOCTL_ANONYMOUS_REVOKE:\n"
     "\t\treturn snd_pcm_anonymous_revoke(file);\n"
     "\tcase SNDRV_PCM_IOCTL_HW_REFINE:\n")
edit("sound/core/pcm_compat.c",
     "\tcase SNDRV_PCM_IOCTL_USER_PVERSION:\n\tcase SNDRV_PCM_IOCTL_HWSYNC:\n",
     "\tcase SNDRV_PCM_IOCTL_USER_PVERSION:\n"
     "\tcase SNDRV_PCM_IOCTL_ANONYMOUS_DUP:\n"
     "\tcase SNDRV_PCM_IOCTL_ANONYMOUS_REVOKE:\n"
     "\tcase SNDRV_PCM_IOCTL_HWSYNC:\n")
PY
mkdir -p "$b/include/uapi/sound"
cp "$KMOD/include/uapi/sound/anondup.h" "$b/include/uapi/sound/anondup.h"
sed 's|#include "include/uapi/sound/anondup.h"|#include <uapi/sound/anondup.h>|' \
    "$KMOD/anondup_priv.h" >"$b/sound/core/pcm_anondup.h"
for f in file mm; do
    sed 's|#include "anondup_priv.h"|#include "pcm_anondup.h"|' \
        "$KMOD/anondup_$f.c" >"$b/sound/core/pcm_anondup_$f.c"
done
cp "$HERE/pcm_anondup_native.c" "$b/sound/core/pcm_anondup.c"

{
    cat <<'HDR'
From: pcmring project
Subject: [PATCH] ALSA: pcm: SNDRV_PCM_IOCTL_ANONYMOUS_DUP and _REVOKE

The policy, source-file isolation and revocation of the out-of-tree
snd-pcm-anondup module (kernel/ in pcmring) as native ioctls in the spirit
of the 2019 "anonymous dup" series, generated from the module's own
sources by kernel/patches/make-native-patch.sh:

  SNDRV_PCM_IOCTL_ANONYMOUS_DUP     _IOWR('A', 0x05, int) on a PCM fd: the
      int goes in as the mode (0 FULL, 1 BUFFER) and comes back as the new
      fd (O_CLOEXEC, access mode and O_NONBLOCK of the source). On a
      restricted fd: BUFFER only (FULL from BUFFER is EPERM).
  SNDRV_PCM_IOCTL_ANONYMOUS_REVOKE  _IO('A', 0x06) on a PCM fd: revokes
      every restricted fd made from it (returns how many); their mappings
      are unmapped (SIGBUS on access) and every later operation fails with
      ENODEV. On a restricted fd: EPERM.

FULL files (anon_inode:snd-pcm) pass every operation to ALSA with the
restricted file itself, whose private data is its own snd_pcm_file, so
no operation on it changes the source file (compat flag, user protocol
version, O_NONBLOCK, fasync). BUFFER files (anon_inode:snd-pcm-buf) allow
the data mmap (offset 0, up to the DMA buffer, read-only for capture), the
read-only status mmap, poll, HWSYNC, PVERSION, ANONDUP_IOCTL_POSITION and
BUFFER dups; everything else fails with EPERM. Each restricted file has
its own address space, so a revocation unmaps its mappings and nobody
else's. The new file holds a reference to the source file, so closing the
source frees nothing a restricted client still uses. The uapi of the
POSITION ioctl is include/uapi/sound/anondup.h, shared with the module.

Against Debian's linux-source-6.12 (6.12.117). Tested by building the
patched snd-pcm out of tree and running pcmring's VM security suite
against it (kernel/tests/native-vm.sh). Not tested as part of a full
kernel build or on other architectures.

---
HDR
    (cd "$work" && diff -urN a b || [[ $? == 1 ]]) | sed -E 's/^(---|\+\+\+) ([^\t]*)\t.*/\1 \2/; /^diff -urN/d'
} >"$OUT"
echo "make-native-patch: wrote $OUT"
