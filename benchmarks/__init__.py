"""Throughput, memory and start-up measurements of the bot: `poetry run python -m benchmarks`.

One run, on one machine, measures every path against the same PostgreSQL and the same users, and prints a
table, then one JSON line. The numbers are measurements, not assertions: a missed target still exits 0. A
lost update (a row, a reply or an HTTP answer missing) makes the run invalid and exits 1.
"""
