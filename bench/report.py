#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Renders the plots of a benchmark run and regenerates docs/BENCHMARKS.md.

    bench/report.py [--run DIR] [--container-run DIR] [--docs DIR]

--run defaults to build/bench/latest (the newest `make bench` run);
--container-run to the newest run under build/bench/runs whose records say
they were measured in the container (`make bench-container`), if any.

The figures go to DOCS/figures/*.svg. docs/BENCHMARKS.md is edited in place:
only the blocks between `<!-- BEGIN generated: KEY -->` and
`<!-- END generated: KEY -->` are replaced (KEY names a table or a figure
list below), and `<!-- BEGIN include: PATH -->` ... `<!-- END include -->`
blocks are refilled from the hand-written file PATH (relative to the
repository). Everything outside the markers is kept as written, so sections
that others add by hand survive a regeneration. Exits 1 when the run is
missing or a marker is unbalanced.
"""
import argparse
import glob
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_run(path):
    records = {}
    for f in sorted(glob.glob(os.path.join(path, "*.json"))):
        try:
            with open(f) as fh:
                r = json.load(fh)
            records[r["name"]] = r
        except (OSError, ValueError, KeyError) as e:
            print(f"report: skipping {f}: {e}", file=sys.stderr)
    return records


def newest_container_run(runs_dir):
    for d in sorted(glob.glob(os.path.join(runs_dir, "*")), reverse=True):
        recs = load_run(d)
        if recs and all(r.get("environment", {}).get("container") for r in recs.values()):
            return d
    return None


def save(fig, docs, name):
    os.makedirs(os.path.join(docs, "figures"), exist_ok=True)
    plt.rcParams["svg.hashsalt"] = "rams"
    fig.savefig(os.path.join(docs, "figures", name), metadata={"Date": None})
    plt.close(fig)
    return name


def plot_matmul(recs, docs):
    counts = sorted(int(n.rsplit("_", 1)[1]) for n in recs if n.startswith("matmul_512_procs_"))
    if not counts or 1 not in counts:
        return None
    cpus = recs[f"matmul_512_procs_{counts[0]}"]["environment"]["cpus"]
    base = recs["matmul_512_procs_1"]["anchor_value"]  # one thread
    procs = [recs[f"matmul_512_procs_{p}"]["value"] / base for p in counts]
    threads = [recs[f"matmul_512_procs_{p}"]["anchor_value"] / base for p in counts]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(counts, procs, "o-", label="processes (rams segment)")
    a.plot(counts, threads, "s--", label="threads (one process)")
    a.axhline(cpus, color="grey", lw=0.8, ls=":", label=f"{cpus} cores")
    a.set(xlabel="workers", ylabel="speedup over 1 thread", title="512x512 matmul: speedup")
    a.legend()
    b.plot(counts, [s / min(p, cpus) for s, p in zip(procs, counts)], "o-", label="processes")
    b.plot(counts, [s / min(p, cpus) for s, p in zip(threads, counts)], "s--", label="threads")
    b.set(xlabel="workers", ylabel="speedup / min(workers, cores)", ylim=(0, 1.2),
          title="efficiency")
    b.legend()
    return save(fig, docs, "matmul_scaling.svg")


def plot_contention(recs, docs):
    ps = sorted(int(re.match(r"sync_counter_(\d+)p$", n).group(1))
                for n in recs if re.match(r"sync_counter_\d+p$", n))
    if not ps:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ps, [recs[f"sync_counter_{p}p"]["value"] for p in ps], "o-", label="rams::Mutex")
    ax.plot(ps, [recs[f"sync_counter_{p}p"]["anchor_value"] for p in ps], "s--",
            label="pthread pshared mutex")
    ax.set(xlabel="processes", ylabel="Mops/s (shared counter)", title="Lock contention")
    ax.legend()
    return save(fig, docs, "sync_contention.svg")


def plot_latency_cdf(recs, docs):
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    for name, label in [("remote_read_8B_rtt_vs_tcp_floor", "sleeping"),
                        ("remote_read_8B_busypoll_rtt_vs_tcp_floor", "busy polling")]:
        r = recs.get(name)
        if not r or "quantiles" not in r:
            continue
        pct = list(range(101))
        ax.plot(r["quantiles"], pct, label=f"rams 8 B READ, {label}")
        ax.plot(r["anchor_quantiles"], pct, ls="--", label=f"raw TCP ping-pong, {label}")
        drawn = True
    r = recs.get("remote_read_8B_adaptive_rtt_vs_busypoll")
    if r and "quantiles" in r:  # the default mode, interleaved with busy polling
        ax.plot(r["quantiles"], list(range(101)), lw=2, label="rams 8 B READ, adaptive (default)")
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set(xscale="log", xlabel="round trip (us)", ylabel="percentile",
           title="Remote round trips on loopback (client core 0, server core 1)")
    ax.legend(fontsize=8)
    return save(fig, docs, "remote_latency_cdf.svg")


def plot_bandwidth(recs, docs):
    sizes = [("64B", 64), ("4KiB", 4096), ("1MiB", 1 << 20)]
    series = [("segment_read_", "value", "Segment::Read"), ("segment_write_", "value", "Segment::Write"),
              ("segment_read_", "anchor_value", "pread /dev/shm"),
              ("segment_write_", "anchor_value", "pwrite /dev/shm"),
              ("mapping_memcpy_read_", "value", "memcpy from the mapping")]
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    for prefix, field, label in series:
        pts = [(b, recs[prefix + l][field]) for l, b in sizes if prefix + l in recs]
        if pts:
            ax.plot(*zip(*pts), "o-", label=label)
            drawn = True
    remote = [("remote_write_1MiB_bandwidth_adaptive_vs_iperf3", "remote 1 MiB WRITE (adaptive)"),
              ("remote_write_1MiB_bandwidth_vs_iperf3", "remote 1 MiB WRITE, sleeping"),
              ("remote_write_1MiB_bandwidth_busypoll_vs_iperf3", "remote 1 MiB WRITE, busy poll")]
    for name, label in remote:
        if name in recs:
            ax.plot([1 << 20], [recs[name]["value"]], "^", label=label)
    anchored = [name for name, _ in remote if name in recs]
    if anchored:  # the iperf3 rounds interleaved with the default mode's
        ax.plot([1 << 20], [recs[anchored[0]]["anchor_value"]], "v", label="iperf3 loopback")
    if not drawn:
        plt.close(fig)
        return None
    ax.set(xscale="log", yscale="log", xlabel="bytes per call", ylabel="MiB/s",
           title="Bandwidth vs message size")
    ax.legend(fontsize=8)
    return save(fig, docs, "bandwidth_vs_size.svg")


def plot_fss(recs, docs):
    ops = [n for n in ("fss_open_close", "fss_stat", "fss_read_4KiB", "fss_write_4KiB") if n in recs]
    if not ops:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = range(len(ops))
    ax.bar([x - 0.2 for x in xs], [recs[n]["value"] for n in ops], 0.4, label="fssd + libfss")
    ax.bar([x + 0.2 for x in xs], [recs[n]["anchor_value"] for n in ops], 0.4, label="syscall")
    ax.set_xticks(list(xs), [n[4:] for n in ops])
    ax.set(ylabel="us per operation", title="FSS overhead per operation")
    ax.legend()
    return save(fig, docs, "fss_overhead.svg")


def fmt(v):
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def met(r):
    g = r.get("goal") or ""
    if not g:
        return "-"
    bound = float(g[2:])
    return "yes" if (r["ratio"] >= bound if g.startswith(">=") else r["ratio"] <= bound) else "no"


def table_all(recs):
    rows = ["| measure | value | unit | p25–p75 | anchor | anchor value | ratio | goal | met | pinning |",
            "|---|---:|---|---|---|---:|---:|---|---|---|"]
    for n, r in sorted(recs.items()):
        s = r.get("spread", {})
        spread = f"{fmt(s['p25'])}–{fmt(s['p75'])}" if s.get("samples", 1) > 1 else "-"
        rows.append(f"| {n} | {fmt(r['value'])} | {r['unit']} | {spread} | {r['anchor']} "
                    f"| {fmt(r['anchor_value'])} | {r['ratio']:.3f} | {r.get('goal') or '-'} "
                    f"| {met(r)} | {r.get('pinning', '-')} |")
    return "\n".join(rows)


def table_counters(recs):
    rows = ["| measure | task-clock ns/op | ctx switches/op | migrations/op | page faults/op "
            "| anchor ctx switches/op | anchor task-clock ns/op |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for n, r in sorted(recs.items()):
        if not r.get("counters_scope", "").startswith("per operation"):
            continue
        c, a = r["counters"], r.get("anchor_counters", {})
        num = lambda d, k: fmt(d[k]) if isinstance(d.get(k), (int, float)) else "n/a"  # noqa: E731
        rows.append(f"| {n} | {num(c, 'task_clock_ns')} | {num(c, 'context_switches')} "
                    f"| {num(c, 'cpu_migrations')} | {num(c, 'page_faults')} "
                    f"| {num(a, 'context_switches')} | {num(a, 'task_clock_ns')} |")
    return "\n".join(rows)


def table_environment(recs, run):
    envs = [r["environment"] for r in recs.values() if "environment" in r]
    if not envs:
        return "(no environment in the records)"
    e = envs[0]
    loads = [x["load_average_1min"] for x in envs if x.get("load_average_1min", -1) >= 0]
    hw = next(iter(recs.values())).get("counters", {}).get("cycles")
    hw_note = ("unavailable (errno %d: no PMU in this VM)" % hw["errno"]
               if isinstance(hw, dict) else "available")
    return "\n".join([
        f"- run `{os.path.basename(os.path.realpath(run))}`, commit `{e['commit']}`, {e['date']}",
        f"- host `{e['host']}`, {e['cpus']} CPUs ({e['cpu_model']}), kernel {e['kernel']}",
        f"- cycle counter {e['tick_source']} at {e['ticks_per_second'] / 1e9:.3f} GHz "
        f"(calibrated against CLOCK_MONOTONIC); perf_event_paranoid {e['perf_event_paranoid']}; "
        f"hardware counters {hw_note}",
        f"- load average (1 min) over the records: {min(loads):.2f} to {max(loads):.2f}"
        if loads else "- load average: not recorded"])


def table_container(recs, crecs):
    if not crecs:
        return ("No container run recorded (`make bench-container` prints why it skipped).")
    rows = ["| measure | ratio bare metal | ratio container | container / bare metal (value) |",
            "|---|---:|---:|---:|"]
    for n in sorted(set(recs) & set(crecs)):
        b, c = recs[n], crecs[n]
        change = f"{c['value'] / b['value']:.3f}" if b["value"] else "-"
        rows.append(f"| {n} | {b['ratio']:.3f} | {c['ratio']:.3f} | {change} |")
    return "\n".join(rows)


def figure_list(names):
    return "\n\n".join(f"![{n[:-4]}](figures/{n})" for n in names if n) or "(no figures: no records)"


def fill(text, blocks):
    """Replaces generated and include blocks; returns the new text."""
    def gen(m):
        key = m.group(1)
        if key not in blocks:
            sys.exit(f"report: unknown generated block '{key}'")
        return f"<!-- BEGIN generated: {key} -->\n{blocks[key]}\n<!-- END generated: {key} -->"

    def inc(m):
        path = os.path.join(ROOT, m.group(1))
        with open(path) as fh:
            body = fh.read().rstrip("\n")
        return f"<!-- BEGIN include: {m.group(1)} -->\n{body}\n<!-- END include: {m.group(1)} -->"

    for kind in ("generated", "include"):
        if text.count(f"<!-- BEGIN {kind}:") != text.count(f"<!-- END {kind}:"):
            sys.exit(f"report: unbalanced '{kind}' markers in BENCHMARKS.md")
    text = re.sub(r"<!-- BEGIN generated: (\S+) -->.*?<!-- END generated: \1 -->", gen, text,
                  flags=re.S)
    return re.sub(r"<!-- BEGIN include: (\S+) -->.*?<!-- END include: \1 -->", inc, text, flags=re.S)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=os.path.join("build", "bench", "latest"))
    ap.add_argument("--container-run")
    ap.add_argument("--docs", default=os.path.join(ROOT, "docs"))
    args = ap.parse_args()
    recs = load_run(args.run)
    if not recs:
        sys.exit(f"report: no records in '{args.run}' (run `make bench` first)")
    crun = args.container_run or newest_container_run(os.path.dirname(os.path.realpath(args.run)))
    if crun and os.path.realpath(crun) == os.path.realpath(args.run):
        crun = None  # the run itself was taken in the container
    crecs = load_run(crun) if crun else {}
    figs = [plot_matmul(recs, args.docs), plot_contention(recs, args.docs),
            plot_latency_cdf(recs, args.docs), plot_bandwidth(recs, args.docs),
            plot_fss(recs, args.docs)]
    blocks = {"environment": table_environment(recs, args.run), "figures": figure_list(figs),
              "records": table_all(recs), "counters": table_counters(recs),
              "container": table_container(recs, crecs)}
    path = os.path.join(args.docs, "BENCHMARKS.md")
    with open(path) as fh:
        text = fh.read()
    new = fill(text, blocks)
    with open(path, "w") as fh:
        fh.write(new)
    print(f"report: {path} and {sum(1 for f in figs if f)} figures from {args.run}"
          + (f" (container run {crun})" if crun else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
