#!/usr/bin/env bash
# kernel/tests/hole-vm.sh: tests the security suite itself. Builds the module
# with each deliberate policy hole (Kbuild's ANONDUP_TEST_HOLE) and runs
# engine/tests/vm_anondup.rs in the VM rig: the suite must FAIL every time.
#   y       PREPARE forwarded on BUFFER fds: caught by the errno checks
#   silent  DROP forwarded but EPERM returned: caught only by the
#           "stream untouched" checks
# Environment: KERNEL (default 6.1), as for kernel/vm/run.
# Exit status 0 if the suite failed for every hole (the tests work).
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
status=0
for hole in y silent; do
    log=$(mktemp /tmp/anondup-hole.XXXXXX)
    ANONDUP_TEST_HOLE=$hole VM_BINS=vm_anondup "$REPO/kernel/vm/run" >"$log" 2>&1
    rc=$?
    if ! grep -q 'TEST BUILD' "$log"; then
        echo "hole-vm: $hole: the hole build did not load (see $log)"; status=1
    elif [[ $rc == 0 ]]; then
        echo "hole-vm: $hole: the suite PASSED with a hole: the tests miss it (see $log)"; status=1
    else
        echo "hole-vm: $hole: the suite failed as it must:"
        grep -E 'panicked at|assertion|^test .* FAILED' -A1 "$log" | grep -vE '^--$|stack backtrace' | head -8
        rm -f "$log"
    fi
done
exit $status
