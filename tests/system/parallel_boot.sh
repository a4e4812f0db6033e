#!/usr/bin/env bash
# tests/system/parallel_boot.sh — two system-tier containers booted at the
# same time (two developers' test runs on one machine) both boot, and
# neither sees the other's processes (issue #10: each container starts from
# a cgroup of its own, container.sh ct_cgroup_dirs; host services that would
# fight over ports are masked). Runs on the host, as root; prints TAP.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d /tmp/rsm-parallel.XXXXXXXX)
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

# In a subshell of its own per container: container.sh keeps its state in
# globals, which the subshell writes down for the checks and the teardown.
boot() { # TAG
    (
        # shellcheck source=container.sh
        . "$here/container.sh"
        ct_boot >"$work/$1.log" 2>&1
        rc=$?
        declare -p CT_STATE CT_ROOT CT_NAME CT_NSPAWN CT_LEADER >"$work/$1.env"
        exit $rc
    )
}
# Runs "$@" with container TAG's state (ct_exec, ct_teardown ...).
in_ct() { # TAG CMD...
    (
        . "$here/container.sh"
        . "$work/$1.env"
        shift
        "$@"
    )
}
cleanup() {
    for t in a b; do [[ -f $work/$t.env ]] && in_ct "$t" ct_teardown >/dev/null 2>&1; done
    rm -rf -- "$work"
}
trap cleanup EXIT

boot a & pa=$!
boot b & pb=$!
wait "$pa"; ra=$?
wait "$pb"; rb=$?
check "container a boots while b boots" test "$ra" = 0
check "container b boots while a boots" test "$rb" = 0
if [[ $ra != 0 || $rb != 0 ]]; then
    sed -e 's/^/# /' "$work/a.log" "$work/b.log"
    echo "1..$n"
    exit 1
fi

# A process started by a unit in each container lives in that container's
# cgroup tree only, and the other container's systemd does not know it.
for t in a b; do
    in_ct "$t" ct_exec systemd-run --quiet --unit=rsm-parallel-probe /bin/sleep 300 >/dev/null 2>&1
done
pid_of() { in_ct "$1" ct_exec systemctl show -P MainPID rsm-parallel-probe.service; }
name_of() { (. "$work/$1.env"; echo "$CT_NAME"); }
name_a=$(name_of a)
name_b=$(name_of b)
host_pid() { # TAG: the probe's pid as the host sees it, found by its pid inside and its cgroup
    local inner name p
    inner=$(pid_of "$1")
    name=$(name_of "$1")
    for p in $(pgrep -x sleep); do
        [[ $(awk '/^NSpid:/ {print $NF}' "/proc/$p/status" 2>/dev/null) == "$inner" ]] || continue
        grep -q "/$name/.*rsm-parallel-probe.service" "/proc/$p/cgroup" 2>/dev/null && { echo "$p"; return 0; }
    done
    return 1
}
ha=$(host_pid a) || ha=""
hb=$(host_pid b) || hb=""
check "a's probe is in a's cgroup ($name_a)" test -n "$ha"
check "b's probe is in b's cgroup ($name_b)" test -n "$hb"
if [[ -n $ha && -n $hb ]]; then
    check "a's probe is not in b's cgroup tree" bash -c "! grep -q '/$name_b/' /proc/$ha/cgroup"
    check "b's probe is not in a's cgroup tree" bash -c "! grep -q '/$name_a/' /proc/$hb/cgroup"
fi
# Each container's unit shows exactly its own probe (the symptom of a shared
# cgroup: a second container's systemd showed the first one's processes in
# its own units).
for t in a b; do
    procs=$(in_ct "$t" ct_exec systemctl status --no-pager --lines=0 rsm-parallel-probe.service | grep -cE '─[0-9]+ /bin/sleep 300')
    check "container $t's probe unit shows one process, not the other's too ($procs)" test "$procs" = 1
done
for t in a b; do
    state=$(in_ct "$t" ct_exec systemctl is-system-running 2>/dev/null)
    check "container $t is still running or degraded ($state)" bash -c "[[ $state == running || $state == degraded ]]"
done
echo "1..$n"
exit $failed
