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
  slowclient.py busy PORT DIR N
      for a handler script that answers a line with itself and its pid,
      and waits for DIR/go-NAME on "wait NAME" (DIR/busy-NAME says who
      waits): N connections each make a request and are kept; two more
      make every handler (of -H 2) busy; the N send a request each, and
      once the server has read them all (or after 10 s) the two are let
      go; prints how many of the N had their second answer,
      and how many of those from another handler than the first.
  slowclient.py busyone PORT DIR N
      the same, but only one of the two is let go at first: the one at
      the handler that does not hold most of the N.  Prints how many of
      the N had their second answer while the other still waits (within
      20 s), how many of those from the handler that holds most (busy),
      and how many it held; then lets the other go.
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


def lines(s, n, limit):
    """n lines from s, or fewer once limit (monotonic) has passed."""
    got = b""
    while got.count(b"\n") < n and time.monotonic() < limit:
        s.settimeout(max(0.01, limit - time.monotonic()))
        try:
            d = s.recv(4096)
        except (socket.timeout, OSError):
            break
        if not d:
            break
        got += d
    return got.decode(errors="replace").splitlines()


def waitfile(path, secs):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            with open(path) as f:
                if f.read():
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def unread(port):
    """Connections to port with bytes the server has not read."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            for line in f.readlines()[1:]:
                w = line.split()
                if int(w[1].split(":")[1], 16) == port and w[3] == "01":
                    n += int(w[4].split(":")[1], 16) > 0
    return n


def busy(port, d, n, one=False):
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10)
             for _ in range(n)]
    first = []
    for s in conns:
        s.sendall(b"pid\n")
        got = lines(s, 1, time.monotonic() + 10)
        first.append(got[0].split()[-1] if got else "?")
    waits = []
    for name in ("b", "c"):
        w = socket.create_connection(("127.0.0.1", port), timeout=10)
        w.sendall(b"wait " + name.encode() + b"\n")
        waitfile("%s/busy-%s" % (d, name), 10)
        waits.append(w)
    for s in conns:
        s.sendall(b"again\n")
    # The handlers have read every request (moved it, or kept it): no
    # connection to the port has bytes waiting.
    end = time.monotonic() + 10
    while time.monotonic() < end and unread(port) > 0:
        time.sleep(0.02)
    most = max(set(first), key=first.count)
    names = ["b", "c"]
    if one:
        # The one waiting at the handler that holds most stays.
        with open("%s/busy-b" % d) as f:
            if f.read().strip() == most:
                names.reverse()
        names.pop()
    for name in names:
        open("%s/go-%s" % (d, name), "w").close()
    limit = time.monotonic() + (20 if one else 30)
    answered = moved = frommost = 0
    for s, pid in zip(conns, first):
        got = lines(s, 1, limit)
        if got and got[0].startswith("again "):
            answered += 1
            moved += got[0].split()[-1] != pid
            frommost += got[0].split()[-1] == most
    if one:
        for name in ("b", "c"):
            open("%s/go-%s" % (d, name), "w").close()
        print("%d %d %d" % (answered, frommost, first.count(most)))
    else:
        print("%d %d" % (answered, moved))


def main():
    if sys.argv[1] == "trickle":
        trickle(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
                sys.argv[5].encode())
    elif sys.argv[1] == "keepalive":
        keepalive(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "idle":
        idle(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1] == "busy":
        busy(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "busyone":
        busy(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), True)
    elif sys.argv[1] == "hello":
        hello(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit("slowclient.py: unknown mode " + sys.argv[1])


if __name__ == "__main__":
    main()
