# shellcheck shell=bash
# tests/system/container.sh — a throwaway systemd container booted from the
# host's own root over a tmpfs overlay (recipe: ../shared/RECIPES.md).
#
# Sourced by tests/system/harness.sh (the system test tier) and tools/demo.
# Runs on the host, as root. All state lives in one unique directory under
# /tmp; every write meant for the container goes into the overlay's upper
# layer (a tmpfs), never into the host's root.
#
#   ct_boot               boot; sets CT_STATE CT_ROOT CT_NAME CT_NSPAWN CT_LEADER
#   ct_exec CMD...        run CMD inside (all namespaces, clean environment)
#   ct_install BUILDDIR   meson install BUILDDIR into the container, daemon-reload,
#                         systemd-tmpfiles --create for rsm's tmpfiles
#   ct_put SRC DEST       copy a host file/dir to DEST inside the container
#   ct_journal [N]        the container's journal (last N lines) + rsm units
#   ct_teardown           power off, kill, unmount, remove state (idempotent)
#
# Output: progress goes to stdout as TAP comments ("# ..."), so the functions
# can be used inside a TAP stream. Failures return non-zero after printing the
# reason (and, for boot, the nspawn log) as comments.

CT_STATE=${CT_STATE:-}
CT_ROOT=${CT_ROOT:-}
CT_NAME=${CT_NAME:-}
CT_NSPAWN=${CT_NSPAWN:-}
CT_LEADER=${CT_LEADER:-}
CT_BOOT_TIMEOUT=${CT_BOOT_TIMEOUT:-90}
CT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Host services a test container never needs: they would fight the host's own
# instances for ports (postgresql on 5432 never finishes starting, and the
# boot never ends) or listen where the tests put rsm's daemons.
CT_MASK_UNITS=${CT_MASK_UNITS:-"postgresql.service postgresql@.service xrdp.service xrdp-sesman.service
    ssh.service ssh.socket x2gobroker-daemon.service x2gobroker-authservice.service
    x2gobroker-loadchecker.service x2gocleansessions.service x2goserver.service apache2.service nginx.service
    xpra.socket xpra.service"}

# Containers share the host's network. Whatever listens on fixed TCP ports
# there (the scenarios marked "# systest-lock: ports", the benchmarks) holds
# this lock while it runs: fd 9, until the caller exits.
CT_PORTS_LOCK=${CT_PORTS_LOCK:-/run/lock/rsm-systest-ports.lock}
ct_ports_lock() {
    exec 9>"$CT_PORTS_LOCK" && flock 9
}

ct_comment() { sed -e 's/^/# /'; }

# The cgroup hierarchies a container's systemd uses: the unified (v2) one and,
# on a hybrid host, the named v1 "systemd" one. On a host whose PID 1 is not
# systemd every shell sits in the root cgroup, and nspawn --keep-unit puts
# each container in <own cgroup>/payload: two containers booted at once would
# share one and see each other's processes in their units. Each container
# therefore starts from a cgroup of its own, $hierarchy/$CT_NAME.
ct_cgroup_dirs() {
    findmnt -rn -t cgroup2 -o TARGET | head -1
    findmnt -rn -t cgroup -o TARGET,OPTIONS | awk '$2 ~ /(^|,)name=systemd(,|$)/ {print $1; exit}'
}

ct_cgroup_enter() { # PID
    local h
    while IFS= read -r h; do
        [[ -n $h ]] || continue
        mkdir -p -- "$h/$CT_NAME" || return 1
        echo "$1" >"$h/$CT_NAME/cgroup.procs" || return 1
    done < <(ct_cgroup_dirs)
}

ct_cgroup_remove() {
    local h
    [[ -n $CT_NAME ]] || return 0
    while IFS= read -r h; do
        [[ -n $h && -d $h/$CT_NAME ]] || continue
        # Depth first: the container's systemd made sub-cgroups in there.
        find "$h/$CT_NAME" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done < <(ct_cgroup_dirs)
}
ct_log() { printf '# %s\n' "$*"; }

# Refuse to touch anything unless CT_ROOT is our overlay mount (never "/").
ct_assert_root() {
    local real
    [[ -n $CT_ROOT && -d $CT_ROOT ]] || { ct_log "ct: no container root"; return 1; }
    real=$(realpath -e -- "$CT_ROOT") || return 1
    if [[ $real == / ]]; then ct_log "ct: refusing: container root is the host root"; return 1; fi
    if [[ $real != "$CT_STATE"/* ]]; then ct_log "ct: refusing: $real is outside $CT_STATE"; return 1; fi
    if ! mountpoint -q -- "$real"; then ct_log "ct: refusing: $real is not a mount point"; return 1; fi
    if [[ $(findmnt -n -o FSTYPE --target "$real") != overlay ]]; then
        ct_log "ct: refusing: $real is not an overlay mount"; return 1
    fi
}

ct_require_root() {
    if [[ $(id -u) != 0 ]]; then ct_log "ct: must run as root"; return 1; fi
    local t
    for t in systemd-nspawn nsenter mountpoint findmnt; do
        command -v "$t" >/dev/null || { ct_log "ct: missing $t (run tools/install-deps)"; return 1; }
    done
}

# The container's PID 1: a child of the nspawn process whose innermost pid
# namespace id is 1 and which runs systemd.
ct_find_leader() {
    local c ns
    for c in $(pgrep -P "$CT_NSPAWN" 2>/dev/null); do
        ns=$(awk '/^NSpid:/ {print $NF}' "/proc/$c/status" 2>/dev/null) || continue
        if [[ $ns == 1 && $(cat "/proc/$c/comm" 2>/dev/null) == systemd ]]; then
            echo "$c"; return 0
        fi
    done
    return 1
}

ct_boot() {
    ct_require_root || return 1
    CT_STATE=$(mktemp -d /tmp/rsm-ct.XXXXXXXX) || return 1
    CT_NAME="rsm-${CT_STATE##*.}"
    CT_NAME=${CT_NAME,,}
    CT_ROOT=$CT_STATE/ov/root
    mkdir -p "$CT_STATE/ov"
    mount -t tmpfs -o mode=0755 rsm-ct-tmpfs "$CT_STATE/ov" || { ct_log "ct: tmpfs mount failed"; return 1; }
    mkdir -p "$CT_STATE/ov/upper" "$CT_STATE/ov/work" "$CT_ROOT"
    if ! mount -t overlay rsm-ct-overlay \
            -o "lowerdir=/,upperdir=$CT_STATE/ov/upper,workdir=$CT_STATE/ov/work" "$CT_ROOT"; then
        ct_log "ct: overlay mount failed"; return 1
    fi
    ct_assert_root || return 1

    ct_log "ct: booting $CT_NAME from / over $CT_ROOT"
    # setsid + own log + no stdin: nspawn must not hold the caller's stdout.
    # The subshell moves itself into a cgroup of its own before it becomes
    # nspawn (see ct_cgroup_dirs); arguments after -b go to the container's
    # systemd: mask the host's services the tests never need.
    local masks=() u
    for u in $CT_MASK_UNITS; do masks+=("systemd.mask=$u"); done
    (
        ct_cgroup_enter "$BASHPID" || exit 1
        exec setsid systemd-nspawn -D "$CT_ROOT" -M "$CT_NAME" --register=no --keep-unit \
            --console=pipe ${CT_NSPAWN_EXTRA_ARGS:-} -b "${masks[@]}"
    ) >"$CT_STATE/nspawn.log" 2>&1 </dev/null &
    CT_NSPAWN=$!

    local deadline=$((SECONDS + CT_BOOT_TIMEOUT)) state=""
    CT_LEADER=""
    while ((SECONDS < deadline)); do
        if ! kill -0 "$CT_NSPAWN" 2>/dev/null; then
            ct_log "ct: systemd-nspawn exited during boot; its log:"
            ct_comment <"$CT_STATE/nspawn.log"
            return 1
        fi
        if [[ -z $CT_LEADER ]]; then
            CT_LEADER=$(ct_find_leader) || CT_LEADER=""
        fi
        if [[ -n $CT_LEADER ]]; then
            state=$(timeout 10 nsenter -t "$CT_LEADER" -a /usr/bin/env -i PATH=$CT_PATH \
                    systemctl is-system-running 2>/dev/null) || true
            case $state in
                running|degraded) break ;;
                stopping|maintenance|offline) break ;;
            esac
        fi
        sleep 0.2
    done
    ct_log "container: ${state:-no answer} (machine $CT_NAME, leader pid ${CT_LEADER:-none}, $((SECONDS - deadline + CT_BOOT_TIMEOUT))s)"
    if [[ $state != running && $state != degraded ]]; then
        ct_log "ct: container did not reach running/degraded within ${CT_BOOT_TIMEOUT}s; nspawn log:"
        ct_comment <"$CT_STATE/nspawn.log"
        if [[ -n $CT_LEADER ]]; then
            ct_exec systemctl list-jobs --no-pager 2>&1 | ct_comment
            ct_exec journalctl -b --no-pager -o short-precise -n 100 2>&1 | ct_comment
        fi
        return 1
    fi
    if [[ $state == degraded ]]; then
        # Degraded is accepted only for units that are not ours.
        local failed
        failed=$(ct_exec systemctl list-units --failed --no-legend --plain 2>/dev/null | awk '{print $1}')
        ct_log "ct: degraded; failed units: $(echo $failed)"
        if grep -q '^rsm' <<<"$failed"; then
            ct_log "ct: one of rsm's units failed during boot"
            ct_exec journalctl -b --no-pager -o short-precise -u 'rsm*' 2>&1 | ct_comment
            return 1
        fi
    fi
    return 0
}

# Run a command inside the container: all namespaces, clean environment.
ct_exec() {
    [[ -n $CT_LEADER ]] || { ct_log "ct: not booted"; return 1; }
    nsenter -t "$CT_LEADER" -a /usr/bin/env -i PATH="$CT_PATH" HOME=/root \
        LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

# ct_put SRC DEST: copy a host path into the container's root (via overlay).
ct_put() {
    ct_assert_root || return 1
    local dest=$CT_ROOT/${2#/}
    mkdir -p -- "$(dirname -- "$dest")"
    cp -a -- "$1" "$dest"
}

# ct_install BUILDDIR: meson install into a staging dir, copy into the
# container's root, reload systemd, create rsm's tmpfiles.
ct_install() {
    local builddir=$1 destdir=$CT_STATE/destdir f
    ct_assert_root || return 1
    rm -rf -- "$destdir"
    if ! meson install -C "$builddir" --destdir "$destdir" --no-rebuild --quiet \
            >"$CT_STATE/install.log" 2>&1; then
        ct_log "ct: meson install failed:"; ct_comment <"$CT_STATE/install.log"; return 1
    fi
    [[ -d $destdir ]] || { ct_log "ct: meson install produced nothing"; return 1; }
    ct_log "ct: installing $(find "$destdir" -type f | wc -l) files into the container"
    find "$destdir" -type f -printf '%P\n' | sort | sed 's|^|#   /|'
    # Not `cp -a`: on merged-/usr systems /lib etc. are symlinks in the root,
    # which must be followed, not replaced.
    if ! (cd "$destdir" && tar -cf - .) | tar -C "$CT_ROOT" -xf - --keep-directory-symlink \
            >>"$CT_STATE/install.log" 2>&1; then
        ct_log "ct: copying into the container failed:"; ct_comment <"$CT_STATE/install.log"; return 1
    fi
    ct_exec systemctl daemon-reload || { ct_log "ct: daemon-reload failed"; return 1; }
    # rsm is installed after boot, when systemd-sysusers has run: create its
    # system users and groups (rsm-gateway) now, as a package's postinst would.
    while IFS= read -r f; do
        ct_log "ct: systemd-sysusers /$f"
        ct_exec systemd-sysusers "/$f" 2>&1 | ct_comment
    done < <(cd "$destdir" && find . -path '*/sysusers.d/*.conf' -printf '%P\n')
    while IFS= read -r f; do
        ct_log "ct: systemd-tmpfiles --create /$f"
        ct_exec systemd-tmpfiles --create "/$f" 2>&1 | ct_comment
    done < <(cd "$destdir" && find . -path '*/tmpfiles.d/*.conf' -printf '%P\n')
    return 0
}

# ct_journal [N]: the container's journal, last N lines, plus rsm units.
ct_journal() {
    local n=${1:-300}
    [[ -n $CT_LEADER ]] && kill -0 "$CT_LEADER" 2>/dev/null || {
        ct_log "ct: container is gone; nspawn log:"; ct_comment <"$CT_STATE/nspawn.log"; return 0; }
    ct_log "----- container journal (last $n lines) -----"
    ct_exec journalctl --no-pager -o short-precise -n "$n" 2>&1 | ct_comment
    ct_log "----- container journal, units rsm* -----"
    ct_exec journalctl --no-pager -o short-precise -u 'rsm*' 2>&1 | ct_comment
    ct_log "----- systemctl status rsm* -----"
    ct_exec systemctl status --no-pager --full 'rsm*' 2>&1 | ct_comment
    ct_log "----- end of container logs -----"
}

# Processes we put into the container through nsenter (and their children):
# in the container's pid namespace but not descendants of its PID 1.
ct_entered_pids() {
    local d p ns myns pp
    [[ -n $CT_LEADER ]] || return 0
    ns=$(readlink "/proc/$CT_LEADER/ns/pid" 2>/dev/null) || return 0
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        [[ $p == "$CT_LEADER" ]] && continue
        myns=$(readlink "$d/ns/pid" 2>/dev/null) || continue
        [[ $myns == "$ns" ]] || continue
        pp=$p
        while [[ -n $pp && $pp != 0 && $pp != 1 && $pp != "$CT_LEADER" ]]; do
            pp=$(awk '/^PPid:/ {print $2}' "/proc/$pp/status" 2>/dev/null) || pp=""
        done
        [[ $pp == "$CT_LEADER" ]] || echo "$p"
    done
    return 0
}

# Idempotent; safe from any exit path (trap EXIT INT TERM).
ct_teardown() {
    local i p
    if [[ -n $CT_NSPAWN ]] && kill -0 "$CT_NSPAWN" 2>/dev/null; then
        # Kill what we started inside through nsenter first: systemd-shutdown
        # SIGSTOPs everything in the container, nsenter (outside) then stops
        # itself and never reaps its child, and the poweroff hangs.
        for p in $(ct_entered_pids); do kill -s KILL "$p" 2>/dev/null || true; done
        for ((i = 0; i < 20; i++)); do [[ -z $(ct_entered_pids) ]] && break; sleep 0.1; done
        # SIGRTMIN+4 asks systemd (PID 1 inside) for a clean poweroff.
        if [[ -n $CT_LEADER ]]; then kill -s RTMIN+4 "$CT_LEADER" 2>/dev/null || true; fi
        for ((i = 0; i < 100; i++)); do kill -0 "$CT_NSPAWN" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$CT_NSPAWN" 2>/dev/null; then
            ct_log "ct: poweroff took >10s, killing nspawn"
            kill -s TERM "$CT_NSPAWN" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do kill -0 "$CT_NSPAWN" 2>/dev/null || break; sleep 0.1; done
            kill -s KILL "$CT_NSPAWN" 2>/dev/null || true
            [[ -n $CT_LEADER ]] && kill -s KILL "$CT_LEADER" 2>/dev/null || true
        fi
        wait "$CT_NSPAWN" 2>/dev/null || true
    fi
    CT_NSPAWN="" CT_LEADER=""
    ct_cgroup_remove
    if [[ -n $CT_STATE && $CT_STATE == /tmp/rsm-ct.* ]]; then
        for i in 1 2 3 4 5; do
            mountpoint -q -- "$CT_ROOT" || break
            umount -- "$CT_ROOT" 2>/dev/null || { sleep 0.2; [[ $i == 5 ]] && umount -l -- "$CT_ROOT"; }
        done
        for i in 1 2 3 4 5; do
            mountpoint -q -- "$CT_STATE/ov" || break
            umount -- "$CT_STATE/ov" 2>/dev/null || { sleep 0.2; [[ $i == 5 ]] && umount -l -- "$CT_STATE/ov"; }
        done
        if ! mountpoint -q -- "$CT_ROOT" 2>/dev/null && ! mountpoint -q -- "$CT_STATE/ov"; then
            rm -rf --one-file-system -- "$CT_STATE"
        else
            ct_log "ct: WARNING: $CT_STATE still mounted, left in place"
        fi
    fi
    CT_STATE="" CT_ROOT=""
}
