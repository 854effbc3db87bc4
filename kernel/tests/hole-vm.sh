#!/usr/bin/env bash
# kernel/tests/hole-vm.sh: tests the security suite itself. Applies each
# deliberate policy hole in kernel/tests/holes/*.patch to a copy of the
# module (the shipped source has none) and runs engine/tests/vm_anondup.rs
# in the VM rig against it: the suite must FAIL every time.
#   prepare.patch      PREPARE forwarded on BUFFER fds: caught by the errno
#                      checks
#   silent-drop.patch  DROP forwarded but EPERM returned: caught only by the
#                      "stream untouched" checks
# Environment: KERNEL (default 6.1), VM_CACHE, as for kernel/vm/run;
# HOLES (default: every patch) to pick some, e.g. HOLES=prepare.
# Exit status 0 if the suite failed for every hole (the tests work).
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HOLES=${HOLES:-$(cd "$REPO/kernel/tests/holes" && ls ./*.patch | sed 's|^\./||; s|\.patch$||')}
status=0
for hole in $HOLES; do
    work=$(mktemp -d /tmp/anondup-hole.XXXXXX)
    # The module sources only (the rig is not part of the module).
    tar -C "$REPO" --exclude=kernel/vm --exclude=kernel/tests -cf - kernel | tar -C "$work" -xf -
    if ! (cd "$work" && patch -p1 -s <"$REPO/kernel/tests/holes/$hole.patch"); then
        echo "hole-vm: $hole: the patch does not apply to the module"; status=1; continue
    fi
    log=$work/run.log
    VM_KMOD_DIR=$work/kernel VM_BINS=vm_anondup "$REPO/kernel/vm/run" >"$log" 2>&1
    rc=$?
    if ! grep -q 'TEST BUILD' "$log"; then
        echo "hole-vm: $hole: the hole build did not load (see $log)"; status=1
    elif [[ $rc == 0 ]]; then
        echo "hole-vm: $hole: the suite PASSED with a hole: the tests miss it (see $log)"; status=1
    else
        echo "hole-vm: $hole: the suite failed as it must:"
        grep -E 'panicked at|assertion|^test .* FAILED' -A1 "$log" | grep -vE '^--$|stack backtrace' | head -8
        rm -rf "$work"
    fi
done
exit $status
