#!/usr/bin/env python3
"""`endpoint add` throughput against one running agent, durable on acknowledgement.

Usage: endpoint-add-bench.py SOCKET NETWORK PRELOAD ADDS CONCURRENCY

Registers PRELOAD endpoints first (so every write carries that many), then ADDS more from
CONCURRENCY clients on keep-alive connections over the agent's API socket, and prints the
adds per second. Each add returns only once the registry file holding it is on disk.
"""
import http.client, json, socket, sys, threading, time

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)

def mac(i): return "02:5e:%02x:%02x:%02x:%02x" % ((i >> 24) & 255, (i >> 16) & 255, (i >> 8) & 255, i & 255)

def run(path, network, indices, errors):
    c = UnixConnection(path)
    for i in indices:
        c.request("POST", "/v1/endpoints", json.dumps({"network": network, "mac": mac(i)}),
                  {"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        if r.status >= 300: errors.append(r.status)

def phase(path, network, first, count, concurrency):
    errors, threads = [], []
    per = [list(range(first + k, first + count, concurrency)) for k in range(concurrency)]
    start = time.monotonic()
    for p in per:
        t = threading.Thread(target=run, args=(path, network, p, errors)); t.start(); threads.append(t)
    for t in threads: t.join()
    return time.monotonic() - start, errors

if __name__ == "__main__":
    path, network, preload, adds, concurrency = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    seconds, errors = phase(path, network, 1, preload, 32)
    assert not errors, f"{len(errors)} adds failed, HTTP statuses {sorted(set(errors))}"
    seconds, errors = phase(path, network, 1 + preload, adds, concurrency)
    assert not errors, f"{len(errors)} adds failed, HTTP statuses {sorted(set(errors))}"
    print(f"preload={preload} adds={adds} concurrency={concurrency} seconds={seconds:.2f} adds_per_second={adds / seconds:.0f}")
