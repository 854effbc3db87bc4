#!/usr/bin/env python3
"""Medians over several runs of kernel/vm/bench-latency.

usage: benches/latency/median3.py RUN_DIR... (each holding a summary.json)

For every run and system it takes the best measured row: for pcmring the
row with the fewest output gaps, then the lowest p99 (its automatic and
fixed-margin rows compete); for alsa-lib and cpal their one measured row
(the smallest stable setting of that run's search); the floor. Prints a
markdown table of the per-run rows and one of the medians per system,
with p99 minus the floor's p50 and pcmring's ratio to alsa-lib.
"""
import json
import statistics
import sys


def best_rows(path):
    d = json.load(open(f"{path}/summary.json"))
    best = {}
    for r in d["runs"]:
        s = r["system"]
        key = (r.get("output_gaps") or 0, r.get("p99_ms") or 1e9)
        if s not in best or key < best[s][0]:
            best[s] = (key, r)
    return d["info"], {s: r for s, (_, r) in best.items()}


def fmt(v, nd=1):
    return "-" if v is None else f"{v:.{nd}f}"


def main(dirs):
    runs = [best_rows(d) for d in dirs]
    print("| run | system | setting | p50 ms | p99 ms | xruns | gaps | CPU steady % | syscalls/s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for d, (info, rows) in zip(dirs, runs):
        for s in ("floor", "pcmring", "alsa-lib", "cpal"):
            r = rows.get(s)
            if r:
                print(f"| {info.get('date', d)} | {s} | {r['setting']} | {fmt(r['p50_ms'])} | "
                      f"{fmt(r['p99_ms'])} | {r['xruns']} | {r['output_gaps']} | "
                      f"{fmt(r['steady_cpu_percent'])} | {fmt(r['syscalls_per_s'], 0)} |")
    print()
    print("| system | runs | median p50 ms | median p99 ms | median p99 - floor p50 ms | median CPU steady % | median syscalls/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    med = {}
    for s in ("floor", "pcmring", "alsa-lib", "cpal"):
        vals = [rows[s] for _, rows in runs if s in rows]
        if not vals:
            continue
        m = lambda k: statistics.median([v[k] for v in vals if v.get(k) is not None]) \
            if any(v.get(k) is not None for v in vals) else None
        fl = [rows["floor"]["p50_ms"] for _, rows in runs if "floor" in rows and s in rows]
        net = statistics.median([v["p99_ms"] - f for v, f in zip(vals, fl)]) if fl else None
        med[s] = (m("p99_ms"), net, m("steady_cpu_percent"), m("syscalls_per_s"))
        print(f"| {s} | {len(vals)} | {fmt(m('p50_ms'))} | {fmt(m('p99_ms'))} | {fmt(net)} | "
              f"{fmt(m('steady_cpu_percent'))} | {fmt(m('syscalls_per_s'), 0)} |")
    if "pcmring" in med and "alsa-lib" in med and med["alsa-lib"][1]:
        p, a = med["pcmring"], med["alsa-lib"]
        print()
        print(f"pcmring / alsa-lib: p99 - floor {p[1] / a[1]:.2f}x, CPU steady "
              f"{(p[2] or 0) / (a[2] or 1):.2f}x, syscalls/s {(p[3] or 0) / (a[3] or 1):.2f}x")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
