#!/usr/bin/env python3
"""The store's floor: the CPU a pair's rows cost SQLite itself, with no daemon around them.

Builds a fresh SQLite file from the project's migrations (migrations/sqlite), with the
connection settings the daemon uses, and 1,000 accounts each holding a lease. Then it writes
pairs as the daemon's two units of work per pair do (BENCHMARKS.md, "Where the time goes"):

  unit 1 (before the place request): the lease check, the last pair's close, the cycle and
  its two legs;
  unit 2 (its kept writes): the exchange's ids on the cycle and both legs, then for each leg
  its fill, its status and the pair's progress.

Units are grouped into transactions of --batch (the group commit), each unit in a savepoint
with --savepoints, as `store::workers` runs them. The statements are the daemon's, prepared
once (Python's sqlite3 keeps them), so what is printed is SQLite's own cost plus Python's
call overhead (about 1.5 us a statement here): a lower bound for the store's share of
`daemon_cpu_us_per_cycle`.

--model one-row measures the same facts kept in one row per pair (the legs in the cycle's
row; fills as rows): what a leaner data model would cost. It changes no project table.

  python3 scripts/store-floor.py [--batch 4] [--savepoints] [--seconds 20] [--model rows|one-row]
"""
import argparse
import glob
import os
import random
import sqlite3
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ACCOUNTS = 1000
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON",
           "PRAGMA temp_store=MEMORY", "PRAGMA cache_size=-16384")

ONE_ROW = """CREATE TABLE pairs_one_row (
    id INTEGER PRIMARY KEY AUTOINCREMENT, account_id BIGINT NOT NULL REFERENCES accounts (id),
    intent_id TEXT NOT NULL UNIQUE, fencing_token BIGINT NOT NULL, state TEXT NOT NULL,
    order_symbol TEXT NOT NULL, buy_price TEXT NOT NULL, sell_price TEXT NOT NULL,
    quantity TEXT NOT NULL, payment_amount TEXT NOT NULL, working_order_id TEXT,
    pending_order_id TEXT, working_status TEXT NOT NULL, pending_status TEXT NOT NULL,
    bought_qty TEXT NOT NULL DEFAULT '0', sold_qty TEXT NOT NULL DEFAULT '0',
    volume_usdt TEXT NOT NULL DEFAULT '0', fees_usdt TEXT NOT NULL DEFAULT '0', outcome TEXT,
    created_at_ms BIGINT NOT NULL, updated_at_ms BIGINT NOT NULL, closed_at_ms BIGINT);
CREATE UNIQUE INDEX pairs_one_live ON pairs_one_row (account_id) WHERE closed_at_ms IS NULL;
CREATE INDEX pairs_account_created ON pairs_one_row (account_id, created_at_ms);"""


def open_store(path):
    c = sqlite3.connect(path, isolation_level=None)
    for p in PRAGMAS:
        c.execute(p)
    for f in sorted(glob.glob(os.path.join(HERE, "..", "migrations", "sqlite", "*", "up.sql"))):
        c.executescript(open(f).read())
    c.executescript(ONE_ROW)
    c.execute("BEGIN")
    for a in range(1, ACCOUNTS + 1):
        c.execute("INSERT INTO accounts (name, state, created_at_ms, updated_at_ms) "
                  "VALUES (?, 'trading', 1, 1)", (f"acc-{a}",))
        c.execute("INSERT INTO leases (account_id, owner, fencing_token, expires_at_ms) "
                  "VALUES (?, 'me', 1, 9999999999999)", (a,))
    c.execute("COMMIT")
    return c


def check_lease(c, a, now):
    """The lease check every intent makes under the write lock."""
    c.execute("SELECT count(*) FROM leases WHERE account_id = ? AND owner = ? "
              "AND fencing_token = ? AND expires_at_ms > ?", (a, "me", 1, now)).fetchone()


def intent_id(a, n):
    return f"{a}-{n}-{random.getrandbits(40):x}"


def record_fill(c, a, order_id, exchange_id, side, now):
    """A leg's fill, a replay of it a no-op (the daemon's upsert)."""
    c.execute("INSERT INTO fills (account_id, order_id, exchange_order_id, trade_id, cum_qty, "
              "side, price, qty, quote_qty, fee, fee_asset, traded_at_ms, recorded_at_ms) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
              (a, order_id, exchange_id, exchange_id, "100", side, "0.1", "100", "10", "0.001",
               "USDT", now, now)).fetchall()


class Rows:
    """The daemon's rows: a cycle, two order rows, a fill per leg."""

    def __init__(self, c):
        self.c, self.live, self.exchange_id = c, {}, 10_000_000

    def intent(self, a, n, now):
        c = self.c
        check_lease(c, a, now)
        if a in self.live:
            c.execute("UPDATE cycles SET state = ?, bought_qty = ?, sold_qty = ?, volume_usdt = ?, "
                      "fees_usdt = ?, outcome = ?, updated_at_ms = ?, closed_at_ms = ? "
                      "WHERE id = ? AND closed_at_ms IS NULL RETURNING id",
                      ("closed", "100", "100", "20.01", "0.002", "filled", now, now,
                       self.live[a][0])).fetchall()
        intent = intent_id(a, n)
        cycle = c.execute(
            "INSERT INTO cycles (account_id, intent_id, fencing_token, state, order_symbol, "
            "buy_price, sell_price, quantity, payment_amount, created_at_ms, updated_at_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (a, intent, 1, "placing", "ALPHA_1USDT", "0.1", "0.1005", "100", "10", now, now),
        ).fetchone()[0]
        legs = [c.execute(
            "INSERT INTO orders (account_id, cycle_id, intent_id, role, order_symbol, side, price, "
            "quantity, status, created_at_ms, updated_at_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (a, cycle, f"{intent}:{s}", role, "ALPHA_1USDT", side, price, "100", "INTENT", now, now),
        ).fetchone()[0] for role, side, price, s in
            (("working", "BUY", "0.1", "w"), ("pending", "SELL", "0.1005", "p"))]
        self.live[a] = (cycle, legs)

    def kept(self, a, now):
        c = self.c
        cycle, legs = self.live[a]
        self.exchange_id += 2
        ids = (str(self.exchange_id), str(self.exchange_id + 1))
        c.execute("UPDATE cycles SET working_order_id = ?, pending_order_id = ?, "
                  "order_list_id = ?, updated_at_ms = ? WHERE id = ? RETURNING id",
                  (ids[0], ids[1], None, now, cycle)).fetchall()
        for leg, x, status in zip(legs, ids, ("NEW", "PENDING")):
            c.execute("UPDATE orders SET exchange_order_id = ?, status = ?, updated_at_ms = ? "
                      "WHERE id = ? RETURNING id", (x, status, now, leg)).fetchall()
        for leg, x, side in zip(legs, ids, ("BUY", "SELL")):
            record_fill(c, a, leg, x, side, now)
            c.execute("UPDATE orders SET status = ?, filled_qty = ?, filled_quote = ?, "
                      "updated_at_ms = ? WHERE id = ? AND status IN (?, ?, ?, ?, ?) RETURNING id",
                      ("FILLED", "100", "10", now, leg, "INTENT", "UNKNOWN", "NEW", "PENDING",
                       "PARTIALLY_FILLED")).fetchall()
            c.execute("UPDATE cycles SET state = ?, bought_qty = ?, sold_qty = ?, volume_usdt = ?, "
                      "fees_usdt = ?, updated_at_ms = ? WHERE id = ? RETURNING id",
                      ("pending", "100", "0", "10", "0.001", now, cycle)).fetchall()


class OneRow(Rows):
    """The same facts with the legs in the pair's row."""

    def intent(self, a, n, now):
        c = self.c
        check_lease(c, a, now)
        if a in self.live:
            c.execute("UPDATE pairs_one_row SET state = ?, sold_qty = ?, volume_usdt = ?, "
                      "fees_usdt = ?, pending_status = ?, outcome = ?, updated_at_ms = ?, "
                      "closed_at_ms = ? WHERE id = ? AND closed_at_ms IS NULL RETURNING id",
                      ("closed", "100", "20.01", "0.002", "FILLED", "filled", now, now,
                       self.live[a][0])).fetchall()
        intent = intent_id(a, n)
        pair = c.execute(
            "INSERT INTO pairs_one_row (account_id, intent_id, fencing_token, state, order_symbol, "
            "buy_price, sell_price, quantity, payment_amount, working_status, pending_status, "
            "created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            (a, intent, 1, "placing", "ALPHA_1USDT", "0.1", "0.1005", "100", "10", "INTENT",
             "INTENT", now, now)).fetchone()[0]
        self.live[a] = (pair, [])

    def kept(self, a, now):
        c = self.c
        pair, _ = self.live[a]
        self.exchange_id += 2
        ids = (str(self.exchange_id), str(self.exchange_id + 1))
        for x, side in zip(ids, ("BUY", "SELL")):
            record_fill(c, a, 1, x, side, now)
        c.execute("UPDATE pairs_one_row SET working_order_id = ?, pending_order_id = ?, "
                  "working_status = ?, state = ?, bought_qty = ?, volume_usdt = ?, "
                  "fees_usdt = ?, updated_at_ms = ? WHERE id = ? RETURNING id",
                  (ids[0], ids[1], "FILLED", "pending", "100", "10", "0.001", now,
                   pair)).fetchall()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=4, help="units per transaction")
    ap.add_argument("--savepoints", action="store_true", help="each unit in a savepoint")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--model", choices=("rows", "one-row"), default="rows")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        c = open_store(os.path.join(tmp, "floor.db"))
        # Foreign keys to orders would refuse the one-row model's fills (their order id is a
        # placeholder): that model measures rows, not references.
        if args.model == "one-row":
            c.execute("PRAGMA foreign_keys = OFF")
        pairs = OneRow(c) if args.model == "one-row" else Rows(c)
        units, done, now, n = [], 0, 1, 0
        started, cpu = time.time(), time.process_time()
        while time.time() - started < args.seconds:
            n += 1
            order = list(range(1, ACCOUNTS + 1))
            random.shuffle(order)
            units = [u for a in order for u in (("intent", a), ("kept", a))]
            for i in range(0, len(units), args.batch):
                c.execute("BEGIN IMMEDIATE")
                for kind, a in units[i:i + args.batch]:
                    if args.savepoints:
                        c.execute("SAVEPOINT unit")
                    if kind == "intent":
                        pairs.intent(a, n, now)
                    else:
                        pairs.kept(a, now)
                    if args.savepoints:
                        c.execute("RELEASE unit")
                c.execute("COMMIT")
            done += ACCOUNTS
            now += 1000
        spent = time.process_time() - cpu
        print(f"model {args.model}, batch {args.batch}, savepoints {args.savepoints}: "
              f"{done} pairs, {1e6 * spent / done:.1f} us of CPU per pair "
              f"(1,000 accounts, SQLite {sqlite3.sqlite_version})")


if __name__ == "__main__":
    main()
