#!/usr/bin/python3
"""Holds database sessions for the lab's fault scenarios until it is killed (pgra lab heal kills it by pid file).

  pgra-lab-hold.py MODE --host H --port P --user U --dbname D [--count N]   (password: $PGPASSWORD)

MODE:
  lock-pileup       one session updates a row and stays idle in transaction; N writers queue behind its lock
  connection-storm  opens connections until the server refuses one, then keeps them all open
  long-transaction  a REPEATABLE READ transaction that took a snapshot and stays idle (old backend_xmin)
  missing-index     loads table orders (N rows, no index on user_id) if missing, then 2 workers run the hot query and
                    one writer inserts a row every 50 ms; every --window seconds (5) it prints one line
                    "LATENCY <epoch> n=<calls> mean_ms=<..> p95_ms=<..> write_n=<inserts> write_max_ms=<..>"
                    measured by the clients themselves (what callers feel, independent of pg_stat_statements)
Prints "READY <detail>" once the fault is in place. Every session has application_name pgra-lab-<MODE>.
"""
import argparse
import os
import random
import sys
import threading
import time

import psycopg2

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["lock-pileup", "connection-storm", "long-transaction", "missing-index"])
ap.add_argument("--host", required=True)
ap.add_argument("--port", type=int, default=5432)
ap.add_argument("--user", required=True)
ap.add_argument("--dbname", required=True)
ap.add_argument("--count", type=int, default=0)
ap.add_argument("--window", type=float, default=5.0)
args = ap.parse_args()
app = "pgra-lab-" + args.mode


def connect(autocommit=True):
    c = psycopg2.connect(host=args.host, port=args.port, user=args.user, dbname=args.dbname,
                         password=os.environ.get("PGPASSWORD", ""), application_name=app, connect_timeout=5)
    c.autocommit = autocommit
    return c


def ready(detail):
    print("READY " + detail, flush=True)


def forever():
    while True:
        time.sleep(3600)


held = []

if args.mode == "lock-pileup":
    setup = connect()
    cur = setup.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS pgra_lab_lock (id int PRIMARY KEY, v bigint NOT NULL DEFAULT 0)")
    cur.execute("INSERT INTO pgra_lab_lock VALUES (1, 0) ON CONFLICT DO NOTHING")
    blocker = connect(autocommit=False)
    blocker.cursor().execute("UPDATE pgra_lab_lock SET v = v + 1 WHERE id = 1")  # row lock held, idle in transaction
    held.append(blocker)
    writers = args.count or 6

    def writer():
        c = connect()
        held.append(c)
        try:
            c.cursor().execute("UPDATE pgra_lab_lock SET v = v + 1 WHERE id = 1")  # waits for the blocker
        except Exception as e:  # terminated by heal
            print("writer ended: %s" % e, flush=True)

    for _ in range(writers):
        threading.Thread(target=writer, daemon=True).start()
    deadline = time.time() + 20
    while time.time() < deadline:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'", (app,))
        if cur.fetchone()[0] >= writers:
            break
        time.sleep(0.1)
    ready("blocker pid %d, %d writers waiting" % (blocker.get_backend_pid(), writers))
    forever()

if args.mode == "connection-storm":
    limit = args.count or 1000
    error = ""
    while len(held) < limit:
        try:
            held.append(connect())
        except psycopg2.OperationalError as e:
            error = str(e).strip().splitlines()[0]
            break
    ready("%d connections held; next refused: %s" % (len(held), error))
    forever()

if args.mode == "long-transaction":
    c = connect(autocommit=False)
    c.set_session(isolation_level="REPEATABLE READ")
    cur = c.cursor()
    cur.execute("SELECT txid_current(), count(*) FROM pg_class")
    xid = cur.fetchone()[0]
    held.append(c)
    ready("transaction xid %s, backend pid %d, idle in transaction" % (xid, c.get_backend_pid()))
    forever()

if args.mode == "missing-index":
    rows = args.count or 2000000
    c = connect()
    cur = c.cursor()
    cur.execute("SELECT to_regclass('public.orders') IS NOT NULL")
    if not cur.fetchone()[0]:
        cur.execute("""CREATE TABLE orders (
                         id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                         user_id integer NOT NULL,
                         created_at timestamptz NOT NULL,
                         amount numeric(10, 2) NOT NULL,
                         status smallint NOT NULL)""")
        batch = 250000  # separate transactions, so checkpoints recycle WAL during the load
        for start in range(0, rows, batch):
            cur.execute("""INSERT INTO orders (user_id, created_at, amount, status)
                           SELECT (random() * 100000)::int, now() - random() * interval '365 days',
                                  round((random() * 500)::numeric, 2), (random() * 4)::int
                           FROM generate_series(1, %s)""", (min(batch, rows - start),))
        cur.execute("ANALYZE orders")
    workers = 2
    lock = threading.Lock()
    reads = []   # seconds per hot query in the current window
    writes = []  # seconds per insert in the current window

    def hot():
        w = connect()
        wc = w.cursor()
        while True:
            t0 = time.monotonic()
            wc.execute("SELECT id, amount, status FROM orders WHERE user_id = %s ORDER BY created_at DESC LIMIT 10",
                       (random.randint(0, 100000),))
            wc.fetchall()
            with lock:
                reads.append(time.monotonic() - t0)

    def writer():
        # An independent writer on the same table: a concurrent index build must never block it for long.
        w = connect()
        wc = w.cursor()
        while True:
            t0 = time.monotonic()
            wc.execute("INSERT INTO orders (user_id, created_at, amount, status) VALUES (%s, now(), 1.00, 0)",
                       (random.randint(0, 100000),))
            with lock:
                writes.append(time.monotonic() - t0)
            time.sleep(0.05)

    def report():
        while True:
            time.sleep(args.window)
            with lock:
                r, wr = sorted(reads), list(writes)
                del reads[:], writes[:]
            p95 = r[min(len(r) - 1, int(round(0.95 * len(r))) - 1)] if r else 0.0
            print("LATENCY %.3f n=%d mean_ms=%.3f p95_ms=%.3f write_n=%d write_max_ms=%.3f" % (
                time.time(), len(r), 1000 * sum(r) / len(r) if r else 0.0, 1000 * p95, len(wr), 1000 * max(wr) if wr else 0.0),
                flush=True)

    for _ in range(workers):
        threading.Thread(target=hot, daemon=True).start()
    threading.Thread(target=writer, daemon=True).start()
    threading.Thread(target=report, daemon=True).start()
    ready("orders has %d rows; %d workers run the hot query, 1 writer inserts" % (rows, workers))
    forever()
