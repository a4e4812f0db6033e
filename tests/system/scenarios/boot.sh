#!/usr/bin/env bash
# The container itself: real systemd, logind, D-Bus, PAM and users.
# A sanity scenario for the system tier; if this fails nothing else can pass.
. "${RSM_SYSTEST_LIB:?run through tests/system/harness.sh}"

check_match "systemd is PID 1" '^systemd$' cat /proc/1/comm
check_match "system is running or degraded" '^(running|degraded)$' systemctl is-system-running
diag_cmd systemctl --failed --no-pager --plain
check "the system bus answers" busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId
check "logind answers" loginctl list-sessions --no-pager
check "the rsm units were installed" systemctl cat rsm-manager.socket rsm-manager.service

check "create user alice with a password" make_user alice alice-pw
check_eq "alice's home exists and is hers" alice stat -c %U /home/alice
check_match "su - alice runs as alice (PAM)" '^uid=[0-9]+\(alice\)' as_user alice id
check "a transient scope can be created" systemd-run --scope --quiet --unit=rsm-systest-probe true
