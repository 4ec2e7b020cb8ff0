#!/usr/bin/env python3
"""Slow clients for regress/slow.t, all in one process.

  slowclient.py trickle PORT N EVERY TEXT
      N connections each send TEXT one byte every EVERY seconds until the
      server closes them; prints, once all are closed (or after 60 s), one
      line per distinct answer: "COUNT ANSWER MIN-SECS MAX-SECS", seconds
      from connect to close.
  slowclient.py keepalive PORT N ROUNDS
      N keep-alive connections each send ROUNDS HTTP/1.1 requests, one at
      a time, all connections in turn; prints "N MIN MAX": the number of
      connections and the fewest and most answers one of them got.
  slowclient.py idle PORT N SECS
      N connections each make one request and then stay open, idle; after
      SECS seconds prints how many got their answer and how many the
      server has closed.
  slowclient.py hello PORT EVERY
      a TLS ClientHello, one byte every EVERY seconds; prints the seconds
      until the server closed the connection.
"""
import selectors
import socket
import ssl
import sys
import time


def trickle(port, n, every, text, limit=60.0):
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setblocking(False)
        c = {"s": s, "t0": time.monotonic(), "sent": 0, "got": b"",
             "end": None}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    nxt = time.monotonic()
    while any(c["end"] is None for c in conns):
        now = time.monotonic()
        if now - conns[0]["t0"] > limit:
            break
        if now >= nxt:
            for c in conns:
                if c["end"] is None and c["sent"] < len(text):
                    try:
                        c["s"].send(text[c["sent"]:c["sent"] + 1])
                        c["sent"] += 1
                    except OSError:
                        pass
            nxt = now + every
        for key, _ in sel.select(max(0.0, nxt - time.monotonic())):
            c = key.data
            try:
                d = c["s"].recv(4096)
            except OSError:
                d = b""
            if d:
                c["got"] += d
                continue
            c["end"] = time.monotonic() - c["t0"]
            sel.unregister(c["s"])
            c["s"].close()
    res = {}
    for c in conns:
        a = c["got"].decode(errors="replace").strip().replace("\n", "|")
        a = a.replace("\t", " ") or "-"
        end = c["end"] if c["end"] is not None else -1.0
        res.setdefault(a, []).append(end)
    for a, ends in sorted(res.items()):
        print("%d %s %.1f %.1f" % (len(ends), a, min(ends), max(ends)))


def hello(port, every):
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = out.read()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(every)
    t0 = time.monotonic()
    for i in range(len(data)):
        try:
            s.send(data[i:i + 1])
            if s.recv(4096) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    print("%.1f" % (time.monotonic() - t0))


REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
ANSWER = b"hello\n"


def answered(c):
    """Read what is there; count whole answers (each ends in ANSWER)."""
    try:
        d = c["s"].recv(65536)
    except (BlockingIOError, socket.timeout):
        return True
    except OSError:
        return False
    if not d:
        return False
    c["buf"] += d
    while ANSWER in c["buf"]:
        c["buf"] = c["buf"].split(ANSWER, 1)[1]
        c["n"] += 1
    return True


def keepalive(port, n, rounds, limit=60.0):
    conns = [{"s": socket.create_connection(("127.0.0.1", port), timeout=10),
              "buf": b"", "n": 0, "open": True} for _ in range(n)]
    t0 = time.monotonic()
    for r in range(rounds):
        for c in conns:
            if c["open"]:
                c["s"].sendall(REQ)
        for c in conns:
            while c["open"] and c["n"] <= r:
                if time.monotonic() - t0 > limit:
                    c["open"] = False
                    break
                c["s"].settimeout(1)
                c["open"] = answered(c)
    ns = [c["n"] for c in conns]
    print("%d %d %d" % (len(ns), min(ns), max(ns)))


def idle(port, n, secs):
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(REQ)
        conns.append({"s": s, "buf": b"", "n": 0, "open": True})
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for c in conns:
            if c["open"]:
                c["s"].settimeout(0.01)
                c["open"] = answered(c)
    print("%d %d" % (sum(c["n"] for c in conns),
                     sum(not c["open"] for c in conns)))


def main():
    if sys.argv[1] == "trickle":
        trickle(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
                sys.argv[5].encode())
    elif sys.argv[1] == "keepalive":
        keepalive(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "idle":
        idle(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1] == "hello":
        hello(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit("slowclient.py: unknown mode " + sys.argv[1])


if __name__ == "__main__":
    main()
