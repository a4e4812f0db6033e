"""Broker benchmark, run inside the system-tier container by bench/run-broker.
rsm-broker (socket-activated on 127.0.0.1:8080, passwords checked by PAM in
rsm's executor) against Debian's x2gobroker-daemon 0.0.4.3 (127.0.0.1:8081,
passwords checked by PAM in x2gobroker-authservice), both reading the SAME
x2gobroker-sessionprofiles.conf of BENCH_PROFILES profiles, both port-scanning
the selected profile's host (a listener of this script on 127.0.0.1:22461).
Prints figures; asserts nothing, but counts answers that are not what an
X2Go client accepts (a figure over wrong answers would mean nothing).

For each authentication mode (pam: what sites run; none: the broker's own
cost) and each broker:
  1. listsessions, sequential: latency (POST to the whole body);
  2. selectsession of a random profile, sequential: latency;
  3. BENCH_CLIENTS concurrent clients, BENCH_EACH listsessions each:
     throughput (answers per second) and latency under load;
then each broker's memory (VmRSS now, VmHWM peak) after the runs.
Ratios are rsm-broker / x2gobroker-daemon from the same run. Memory is the
broker process alone: neither rsm-manager and its executors (rsm-broker's
PAM) nor x2gobroker-authservice (x2gobroker's) is counted.
"""

import http.client
import os
import random
import socket
import statistics
import subprocess
import threading
import time
import urllib.parse

PROFILES = int(os.environ.get("BENCH_PROFILES", "1000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "100"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "100"))
EACH = int(os.environ.get("BENCH_EACH", "2"))
USER, PASSWORD = "benchuser", "benchuser-pw"
PROFILES_FILE = "/etc/x2go/broker/x2gobroker-sessionprofiles.conf"
X2GO_CONF = "/etc/x2go/x2gobroker.conf"
SSH_PORT = 22461
BROKERS = [("rsm-broker", 8080, "rsm-broker.service"), ("x2gobroker-daemon", 8081, "x2gobroker-bench.service")]


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def write_profiles():
    with open(PROFILES_FILE, "w") as f:
        f.write("[DEFAULT]\ncommand=TERMINAL\nuser=BROKER_USER\nsshport=22\n\n")
        for i in range(PROFILES):
            f.write(f"[p{i:04d}]\nname=Profile {i}\nhost=h{i} (127.0.0.1:{SSH_PORT})\ncommand=xfce\n"
                    f"acl-users-allow=ALL\nacl-users-deny=nobody\n\n")


def ssh_port_listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", SSH_PORT))
    s.listen(512)

    def serve():
        while True:
            c, _ = s.accept()
            c.close()
    threading.Thread(target=serve, daemon=True).start()


def configure(mode):
    """Both brokers in `mode` ("pam" or "none"), freshly started."""
    with open("/etc/rsm/broker.toml", "w") as f:
        f.write(f'[auth]\nmethod = "{mode}"\n[hosts]\nprobe_timeout_ms = 500\n'
                "[limits]\nconnections = 512\nconnections_per_address = 256\n")
    with open(X2GO_CONF, "w") as f:
        f.write("[global]\nenable-plain-output = true\nenable-json-output = true\n"
                f"default-auth-mech = {mode}\ndefault-portscan-x2goservers = true\n"
                f"[broker_zeroconf]\nenable = false\n[broker_inifile]\nenable = true\nauth-mech = {mode}\n"
                f"session-profiles = {PROFILES_FILE}\n")
    subprocess.run(["systemctl", "stop", "rsm-broker.service", "x2gobroker-bench.service"],
                   stderr=subprocess.DEVNULL, check=False)
    subprocess.run(["systemd-run", "--unit=x2gobroker-bench", "--quiet",
                    "/usr/bin/python3", "/usr/bin/x2gobroker-daemon", "-b", "127.0.0.1:8081", "--drop-privileges"],
                   check=True)
    for _, port, _ in BROKERS:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = post(port, {"task": "testcon", "user": USER, "password": PASSWORD})
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"broker on port {port} did not answer testcon")
            time.sleep(0.1)


def post(port, fields):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        c.request("POST", "/plain/inifile/", urllib.parse.urlencode(fields),
                  {"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def good_list(status, body):
    return status == 200 and "Access granted" in body and body.count("\n[p") == PROFILES


def good_select(status, body):
    return status == 200 and "Access granted" in body and f"SERVER:127.0.0.1:{SSH_PORT}" in body


def timed(port, fields, check):
    t = time.perf_counter()
    status, body = post(port, fields)
    return time.perf_counter() - t, check(status, body)


def sequential(port, task):
    out, bad = [], 0
    for i in range(ROUNDS + 3):
        if task == "listsessions":
            dt, ok = timed(port, {"task": "listsessions", "user": USER, "password": PASSWORD}, good_list)
        else:
            sid = f"p{random.randrange(PROFILES):04d}"
            dt, ok = timed(port, {"task": "selectsession", "sid": sid, "user": USER, "password": PASSWORD,
                                  "login": USER}, good_select)
        if i >= 3:  # warm-up rounds are not counted
            out.append(dt)
            bad += not ok
    return out, bad


def concurrent(port):
    lat, bad, lock = [], [0], threading.Lock()
    barrier = threading.Barrier(CLIENTS + 1)

    def client():
        barrier.wait()
        for _ in range(EACH):
            try:
                dt, ok = timed(port, {"task": "listsessions", "user": USER, "password": PASSWORD}, good_list)
            except OSError:
                dt, ok = None, False
            with lock:
                if dt is not None:
                    lat.append(dt)
                bad[0] += not ok
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return lat, bad[0], (CLIENTS * EACH) / (time.perf_counter() - t0)


def memory(unit):
    pid = subprocess.run(["systemctl", "show", "-P", "MainPID", unit], capture_output=True, text=True).stdout.strip()
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    fields[k] = int(v.split()[0]) / 1024
    except OSError:
        pass
    return fields


def line(name, samples, bad, base=None):
    med, p99 = statistics.median(samples) * 1e3, pct(samples, 99) * 1e3
    s = f"  {name:<44} n={len(samples):<4} median={med:9.2f} ms  p99={p99:9.2f} ms  wrong={bad}"
    if base:
        s += f"  ratio(median)={med / (statistics.median(base) * 1e3):6.2f}  ratio(p99)={p99 / (pct(base, 99) * 1e3):6.2f}"
    print(s, flush=True)


def main():
    random.seed(1)
    write_profiles()
    ssh_port_listener()
    print(f"broker bench: {PROFILES} profiles, {ROUNDS} sequential rounds, {CLIENTS} clients x {EACH} "
          "concurrent listsessions; ratio = rsm-broker / x2gobroker-daemon", flush=True)
    for mode in ("pam", "none"):
        configure(mode)
        print(f"auth = {mode}", flush=True)
        results = {}
        for name, port, unit in BROKERS:
            results[name] = {"list": sequential(port, "listsessions"), "select": sequential(port, "selectsession"),
                             "conc": concurrent(port), "mem": memory(unit)}
        ref = results["x2gobroker-daemon"]
        for name, _, _ in BROKERS:
            r, base = results[name], (None if name == "x2gobroker-daemon" else ref)
            line(f"{name} listsessions", *r["list"], base and base["list"][0])
            line(f"{name} selectsession", *r["select"], base and base["select"][0])
            lat, bad, rate = r["conc"]
            s = f"  {name + ' concurrent listsessions':<44} {rate:8.1f} answers/s"
            if base:
                s += f"  ratio={rate / base['conc'][2]:6.2f}"
            print(s, flush=True)
            line(f"{name} concurrent latency", lat, bad, base and base["conc"][0])
            mem = r["mem"]
            print(f"  {name + ' memory':<44} VmRSS={mem.get('VmRSS', 0):7.1f} MiB  VmHWM={mem.get('VmHWM', 0):7.1f} MiB",
                  flush=True)


if __name__ == "__main__":
    main()
