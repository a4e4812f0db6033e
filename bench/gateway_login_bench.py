"""Gateway login benchmark, run inside the system-tier container by
bench/run-gateway-login (real PAM, real users). Prints figures; asserts
nothing.

  1. peer-credential login: logins per second and latency (connect, log in,
     close), sequentially;
  2. valid password login and peer-credential login latency while 20
     wrong-password logins from 20 sources are kept in flight (each hashing
     with yescrypt, each failure answered after [gateway] failure_delay_ms),
     each beside its no-load figure from the same run (ratio loaded/baseline);
  3. valid password login latency (from another source) while a burst of 50
     wrong-password logins from ONE source is in flight: during the first
     second of the burst and after it, beside the no-load figure. rsm runs
     at most [gateway] max_logins_per_source logins of one source at once and
     queues the rest, so the burst costs the others (almost) nothing.
"""

import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/integration"))
import dbus  # noqa: E402
from gateway_client import Gateway  # noqa: E402

ADDRESS = "unix:path=/run/rsm/gateway.sock"


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def report(name, samples, baseline=None):
    med, p99 = statistics.median(samples) * 1e3, pct(samples, 99) * 1e3
    line = f"{name:<48} n={len(samples):<4} median={med:8.2f} ms  p99={p99:8.2f} ms"
    if baseline:
        bmed, bp99 = statistics.median(baseline) * 1e3, pct(baseline, 99) * 1e3
        line += f"  ratio(median)={med / bmed:5.2f}  ratio(p99)={p99 / bp99:5.2f}"
    print(line, flush=True)


def peer_login_as(user, n):
    code = f"""
import sys, time, dbus
sys.path.insert(0, {os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/integration")!r})
from gateway_client import Gateway
out = []
for _ in range({n}):
    t = time.perf_counter()
    c = dbus.connection.Connection({ADDRESS!r})
    Gateway(c).LoginWithCredentials()
    c.close()
    out.append(time.perf_counter() - t)
print(" ".join(map(str, out)))
"""
    r = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "/usr/bin/python3",
                        "-c", code], capture_output=True, text=True, check=True)
    return [float(x) for x in r.stdout.split()]


def password_login(i):
    t = time.perf_counter()
    c = dbus.connection.Connection(ADDRESS)
    Gateway(c).LoginWithPassword("benchuser", "benchuser-pw",
                                 dbus.Dictionary({"address": f"10.{i // 250}.{i % 250}.9"}, signature="sv"),
                                 timeout=60)
    c.close()
    return time.perf_counter() - t


def wrong_logins_forever(stop, k):
    i = 0
    while not stop.is_set():
        c = dbus.connection.Connection(ADDRESS)
        try:
            # A fresh documentation-range source each time: no throttling.
            Gateway(c).LoginWithPassword("benchuser", "wrong",
                                         dbus.Dictionary({"address": f"198.18.{k}.{i % 250}"}, signature="sv"),
                                         timeout=60)
        except dbus.exceptions.DBusException:
            pass
        c.close()
        i += 1


def wrong_login_once(results, i):
    c = dbus.connection.Connection(ADDRESS)
    try:
        Gateway(c).LoginWithPassword("benchuser", "wrong",
                                     dbus.Dictionary({"address": "198.51.100.77"}, signature="sv"),
                                     timeout=120)
    except dbus.exceptions.DBusException as e:
        results[i] = e.get_dbus_name()
    c.close()


def burst_from_one_source(n_burst, n_pw):
    """50 (n_burst) wrong-password logins from one source sent at once; valid
    logins from other sources measured while they are in flight."""
    results = [None] * n_burst
    threads = [threading.Thread(target=wrong_login_once, args=(results, i), daemon=True) for i in range(n_burst)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    first_second, later = [], []
    i = 0
    while any(t.is_alive() for t in threads) and len(later) < n_pw:
        d = password_login(5000 + i)
        i += 1
        (first_second if time.perf_counter() - t_start - d < 1.0 else later).append(d)
    for t in threads:
        t.join()
    burst_time = time.perf_counter() - t_start
    return first_second, later, burst_time, results


def main():
    n_peer = int(os.environ.get("BENCH_PEER_LOGINS", "300"))
    n_pw = int(os.environ.get("BENCH_PASSWORD_LOGINS", "40"))
    print(f"# rsm gateway login benchmark (peer logins: {n_peer}, password logins: {n_pw})")

    peer_login_as("benchuser", 10)  # warm-up: page cache, NSS
    t0 = time.perf_counter()
    peer = peer_login_as("benchuser", n_peer)
    elapsed = time.perf_counter() - t0
    report("peer-credential login (connect+login+close)", peer)
    print(f"{'peer-credential logins per second':<48} {n_peer / elapsed:8.1f}/s", flush=True)

    base = [password_login(i) for i in range(n_pw)]
    report("password login, no load (baseline)", base)

    stop = threading.Event()
    load = [threading.Thread(target=wrong_logins_forever, args=(stop, k), daemon=True) for k in range(20)]
    for t in load:
        t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # readiness: 20 executors busy in PAM
        n = int(subprocess.run(["pgrep", "-c", "-x", "rsm-session"], capture_output=True, text=True).stdout or 0)
        if n >= 20:
            break
        time.sleep(0.01)
    loaded = [password_login(1000 + i) for i in range(n_pw)]
    peer_loaded = peer_login_as("benchuser", min(n_peer, 100))
    stop.set()
    report("password login, 20 wrong-password logins in flight", loaded, base)
    report("peer login, 20 wrong-password logins in flight", peer_loaded, peer)

    n_burst = int(os.environ.get("BENCH_BURST", "50"))
    time.sleep(0.5)  # let the previous load's executors exit (no readiness signal for "gone")
    base2 = [password_login(9000 + i) for i in range(n_pw)]
    first, later, burst_time, results = burst_from_one_source(n_burst, n_pw)
    report("password login, no load (baseline, again)", base2)
    if first:
        report(f"password login, 1st second of {n_burst} wrong from 1 source", first, base2)
    if later:
        report(f"password login, later in that burst", later, base2)
    failed = sum(1 for r in results if r)
    print(f"{'burst: wrong logins answered with an error':<48} {failed}/{n_burst} in {burst_time:.1f} s "
          f"({sorted(set(r for r in results if r))})", flush=True)


if __name__ == "__main__":
    main()
