#!/usr/bin/env python3
"""Round-trip report of kernel/vm/bench-roundtrip (stdlib only).

Reads the console log of one VM boot (kernel/vm/run's output) that ran
`alsabat --roundtriplatency` (kernel/vm/roundtrip-alsabat, `RT-` lines) and
pcmring's round-trip test (engine/tests/vm_capture.rs, `vm_capture | round
trip:` lines) on the same snd-aloop cable, plus the host facts the bench
wrote, and writes into OUT:

  roundtrip.csv   one row per series and block
  roundtrip.md    the markdown table docs/capture.md carries
  roundtrip.svg   round trip in ms against the block / period size

usage: roundtrip-report.py CONSOLE_LOG HOST_FACTS OUT_DIR
"""

import csv
import math
import os
import re
import sys

RATE = 48_000

PCMRING = re.compile(
    r"vm_capture \| round trip: block (\d+) margin (\d+) reported (-?\d+) skew (-?\d+) "
    r"measured mean (\d+) min (\d+) max (\d+) clicks (\d+) realigns (\d+)"
    r"(?: diff (-?\d+)\.\.(-?\d+))?"
)
# libtest's summary of the test binary (the test's own "... ok" line is
# interleaved with what it prints).
TEST_RESULT = re.compile(r"^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed")


def agrees(b, r):
    """Measured within one block of reported, the test's bar: click by click
    against the offset in force when the click left (`diff`, printed by the
    test), or else, without a realign, min and max against the final value."""
    if r.get("diff"):
        lo, hi = r["diff"]
        return max(abs(lo), abs(hi)) <= b
    if r["realigns"]:
        return None
    return abs(r["min"] - r["reported"]) <= b and abs(r["max"] - r["reported"]) <= b


def reported_in_force(r):
    """The reported round trip the clicks saw, averaged like the measured
    mean: after a realign the final reported value is not the one every
    click saw, but each click's distance from the offset in force is known
    (exact when diff is lo..lo, as on snd-aloop)."""
    if r.get("diff"):
        lo, hi = r["diff"]
        return r["mean"] - (lo + hi) / 2
    return r["reported"]


def ms(frames):
    return frames * 1000.0 / RATE


def parse(console, host):
    info = {}
    pcmring = {}
    alsabat = {}  # (rule, period) -> run
    verdict = None
    for line in host:
        key, _, value = line.strip().partition(" ")
        if key:
            info[key] = value
    for raw in console:
        line = raw.rstrip("\n")
        m = PCMRING.search(line)
        if m:
            b, margin, off, skew, mean, lo, hi, n, realigns = map(int, m.groups()[:9])
            diff = None if m.group(10) is None else (int(m.group(10)), int(m.group(11)))
            pcmring[b] = {
                "diff": diff,
                "margin": margin,
                "reported": off - skew,
                "mean": mean,
                "min": lo,
                "max": hi,
                "clicks": n,
                "realigns": realigns,
            }
            continue
        m = TEST_RESULT.match(line)
        if m:
            verdict = m.group(1)
            continue
        if line.startswith("RT-INFO "):
            key, _, value = line[len("RT-INFO "):].partition(" ")
            info[key] = value
            continue
        if line.startswith("RT-ALSABAT-END "):
            rule, period, *fields = line.split()[1:]
            run = alsabat.setdefault((rule, int(period)), new_run())
            for f in fields:
                key, _, value = f.partition("=")
                if key in ("rc", "tries") and value.lstrip("-").isdigit():
                    run[key] = int(value)
            continue
        if line.startswith("RT-ALSABAT "):
            parts = line.split(" ", 3)
            rule, period = parts[1], int(parts[2])
            text = parts[3] if len(parts) > 3 else ""
            alsabat_line(alsabat.setdefault((rule, period), new_run()), text)
    return info, pcmring, alsabat, verdict


def new_run():
    return {"attempts": 0, "xruns": 0, "period": None, "buffer": None, "tests": [],
            "final": None, "errors": [], "rc": None, "earlier": [], "tries": 1}


def alsabat_line(run, text):
    if "Start round trip latency" in text:
        # alsabat starts over (period + 1 ms, buffer = 2 periods) after an
        # xrun: keep what the abandoned attempt measured.
        if run["tests"]:
            run["earlier"].append((run["period"], run["buffer"], run["tests"]))
        run["attempts"] += 1
        run["tests"] = []
    m = re.search(r"Get period size: (\d+)\s+buffer size: (\d+)", text)
    if m:
        run["period"], run["buffer"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"Test\d+, round trip latency (\d+)ms", text)
    if m:
        run["tests"].append(int(m.group(1)))
    m = re.search(r"Final round trip latency: (\d+)ms", text)
    if m:
        run["final"] = int(m.group(1))
    if "Underrun" in text or "Overrun" in text:
        run["xruns"] += 1
    if re.search(r"Cannot|fail|error|Could not", text, re.IGNORECASE):
        run["errors"].append(text.strip())


def alsabat_status(run):
    if run["final"] is not None:
        return "ok"
    if run["rc"] is None:
        return "no result"
    why = run["errors"][-1] if run["errors"] else f"exit status {run['rc']}"
    earlier = "; ".join(f"{p}/{b} measured {', '.join(map(str, t))} ms before an xrun"
                        for p, b, t in run["earlier"])
    return (f"failed after {run['attempts']} starts in {run['tries']} runs ({why})" + (f"; {earlier}" if earlier else ""))


def write_csv(path, pcmring, alsabat):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["series", "block", "period", "buffer", "round_trip_frames",
                    "round_trip_ms", "min_frames", "max_frames", "count",
                    "realigns_or_xruns", "status"])
        for b in sorted(pcmring):
            r = pcmring[b]
            agree = agrees(b, r)
            w.writerow(["pcmring reported", b, 512, "", r["reported"],
                        f"{ms(r['reported']):.2f}", "", "", "", r["realigns"], ""])
            w.writerow(["pcmring measured", b, 512, "", r["mean"], f"{ms(r['mean']):.2f}",
                        r["min"], r["max"], r["clicks"], r["realigns"],
                        {True: "agrees within one block", False: "DISAGREES",
                         None: "realigned: judged per click by the test"}[agree]])
        for (rule, period), run in sorted(alsabat.items()):
            final = run["final"]
            w.writerow([f"alsabat {rule}", period, run["period"] or "", run["buffer"] or "",
                        "" if final is None else round(final * RATE / 1000),
                        "" if final is None else final,
                        "", "", len(run["tests"]), run["xruns"], alsabat_status(run)])


def write_md(path, info, pcmring, alsabat, verdict):
    rules = sorted({rule for rule, _ in alsabat})
    blocks = sorted(set(pcmring) | {p for _, p in alsabat})
    head = ["block", "pcmring realigns", "pcmring reported at the end, frames (ms)",
            "pcmring measured mean (min..max), frames (ms)",
            "measured - reported in force, per click", "within a block"]
    for rule in rules:
        head += [f"alsabat {rule}: period/buffer", f"alsabat {rule}: ms (each test)"]
    lines = ["| " + " | ".join(head) + " |",
             "| " + " | ".join("---:" for _ in head) + " |"]
    for b in blocks:
        row = [str(b)]
        r = pcmring.get(b)
        if r:
            agree = agrees(b, r)
            row += [str(r["realigns"]), f"{r['reported']} ({ms(r['reported']):.2f})",
                    f"{r['mean']} ({r['min']}..{r['max']}) ({ms(r['mean']):.2f})",
                    f"{r['diff'][0]}..{r['diff'][1]}" if r.get("diff") else "",
                    {True: "yes", False: "**no**", None: "per click"}[agree]]
        else:
            row += ["", "", "", "", ""]
        for rule in rules:
            run = alsabat.get((rule, b))
            if run is None:
                row += ["", ""]
                continue
            pb = f"{run['period']}/{run['buffer']}" if run["period"] else "?"
            if run["attempts"] > 1:
                pb += f" ({run['attempts']} starts in {run['tries']} runs)"
            if run["final"] is not None:
                each = ", ".join(str(t) for t in run["tests"])
                row += [pb, f"**{run['final']}** ({each})"]
            else:
                row += [pb, alsabat_status(run).replace("|", "/")]
        lines.append("| " + " | ".join(row) + " |")
    facts = []
    if verdict:
        facts.append(f"pcmring test `round_trip_matches_the_reported_offset`: {verdict}")
    for key in ("date", "host_cpu", "guest_kernel", "guest_cpu", "alsabat", "cable"):
        if key in info:
            facts.append(f"{key}: {info[key]}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n\n" + "\n".join(f"- {x}" for x in facts) + "\n")


def write_svg(path, info, pcmring, alsabat):
    series = []  # (name, colour, dash, marker, [(block, ms)])
    series.append(("pcmring measured", "#1f77b4", "", "circle",
                   [(b, ms(r["mean"])) for b, r in sorted(pcmring.items())]))
    series.append(("pcmring reported (in force per click)", "#ff7f0e", "5,4", "none",
                   [(b, ms(reported_in_force(r))) for b, r in sorted(pcmring.items())]))
    colours = ["#d62728", "#2ca02c", "#9467bd"]
    for i, rule in enumerate(sorted({rule for rule, _ in alsabat})):
        # At the period alsabat ended up using (it grows it after an xrun).
        pts = sorted((run["period"] or p, float(run["final"])) for (r, p), run in alsabat.items()
                     if r == rule and run["final"] is not None)
        label = {"lead": "alsabat, buffer = margin + period",
                 "x2": "alsabat, buffer = 2 x period"}.get(rule, f"alsabat {rule}")
        series.append((label, colours[i % len(colours)], "", "square", pts))
    xs = sorted({x for *_, pts in series for x, _ in pts} | set(pcmring)) or [32, 512]
    ys = [y for *_, pts in series for _, y in pts] or [0, 1]
    W, H, L, R, T, B = 800, 440, 70, 300, 40, 60
    x0, x1 = math.log2(min(xs)) - 0.2, math.log2(max(xs)) + 0.2
    y_top = max(ys) * 1.15
    step = nice_step(y_top / 6)
    y_top = math.ceil(y_top / step) * step

    def px(x):
        return L + (math.log2(x) - x0) / (x1 - x0) * (W - L - R)

    def py(y):
        return T + (1 - y / y_top) * (H - T - B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    title = "Round trip through snd-aloop, one VM boot"
    sub = " / ".join(v for v in (info.get("guest_kernel"), info.get("date")) if v)
    out.append(f'<text x="{L}" y="20" font-size="14" font-weight="bold">{esc(title)}</text>')
    out.append(f'<text x="{L}" y="34" fill="#555">{esc(sub)}</text>')
    y = 0.0
    while y <= y_top + 1e-9:
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
        y += step
    for x in xs:
        out.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{T}" y2="{H - B}" stroke="#eee"/>')
        out.append(f'<text x="{px(x):.1f}" y="{H - B + 16}" text-anchor="middle">{x}</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 18}" text-anchor="middle">'
               'block (pcmring) / period (alsabat), frames at 48 kHz</text>')
    out.append(f'<text transform="translate(18,{(T + H - B) / 2}) rotate(-90)" '
               'text-anchor="middle">round trip, ms</text>')
    for i, (name, colour, dash, marker, pts) in enumerate(series):
        if pts:
            d = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in pts)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" '
                       f'stroke-width="2"{dash_attr}/>')
            for x, v in pts:
                out.append(mark(marker, px(x), py(v), colour))
        ly = T + 14 + i * 20
        lx = W - R + 14
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly}" y2="{ly}" stroke="{colour}" '
                   f'stroke-width="2"{dash_attr}/>')
        out.append(mark(marker, lx + 12, ly, colour))
        out.append(f'<text x="{lx + 30}" y="{ly + 4}">{esc(name)}</text>')
    failed = [f"{rule} {p}" for (rule, p), run in sorted(alsabat.items()) if run["final"] is None]
    if failed:
        ly = T + 14 + len(series) * 20 + 10
        out.append(f'<text x="{W - R + 14}" y="{ly}" fill="#555">alsabat gave no result at:</text>')
        for i, f in enumerate(failed):
            out.append(f'<text x="{W - R + 24}" y="{ly + 16 * (i + 1)}" fill="#555">{esc(f)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def mark(kind, x, y, colour):
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    return ""


def nice_step(raw):
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], errors="replace") as c, open(argv[2]) as h:
        info, pcmring, alsabat, verdict = parse(c, h)
    if not pcmring and not alsabat:
        sys.stderr.write(f"roundtrip-report: no round-trip lines in {argv[1]}\n")
        return 1
    out = argv[3]
    os.makedirs(out, exist_ok=True)
    write_csv(os.path.join(out, "roundtrip.csv"), pcmring, alsabat)
    write_md(os.path.join(out, "roundtrip.md"), info, pcmring, alsabat, verdict)
    write_svg(os.path.join(out, "roundtrip.svg"), info, pcmring, alsabat)
    sys.stdout.write(open(os.path.join(out, "roundtrip.md")).read())
    # Structural check, not timing: pcmring's two numbers from the same run
    # must agree within one block.
    bad = [b for b, r in pcmring.items() if agrees(b, r) is False]
    if bad or verdict not in (None, "ok"):
        sys.stderr.write(f"roundtrip-report: pcmring measured and reported disagree at blocks {bad} "
                         f"(test: {verdict})\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
