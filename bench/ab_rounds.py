#!/usr/bin/env python3
"""Two builds (or two settings) of one benchmark program in alternating rounds.

    bench/ab_rounds.py [--rounds N] [--cpu | --wall] A B -- PROGRAM-AND-ARGS...

A and B are each a build folder (the program is DIR/bench/PROGRAM) or `DIR:VAR=value,VAR=value`
to add environment variables for that side (the same folder twice compares settings). Each round
runs A then B, the next round B then A. One JSON line per figure the program prints: both
sides' medians over the rounds, the per-round ratios B / A and their median. By default the
figure is `cpu_median` (or `cpu_mean` for --profile lines) where the program gives one, else
`median`/`mean` (`--wall` takes wall time always). Run with OMP_NUM_THREADS=1 on a busy machine:
the CPU time of one thread tracks the work done (bench/README.md).
"""
import json
import os
import statistics
import subprocess
import sys


def parse_side(text):
    folder, _, env = text.partition(":")
    extra = dict(kv.split("=", 1) for kv in env.split(",") if kv)
    return folder, extra


def figures(output, use_cpu):
    out = {}
    for line in output.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if "name" not in d:
            continue
        keys = (["cpu_median", "cpu_mean"] if use_cpu else []) + ["median", "mean"]
        for k in keys:
            if k in d:
                out[d["name"]] = d[k]
                break
    return out


def main(argv):
    rounds, use_cpu = 5, True
    args = list(argv)
    while args and args[0].startswith("--") and args[0] != "--":
        opt = args.pop(0)
        if opt == "--rounds":
            rounds = int(args.pop(0))
        elif opt in ("--cpu", "--wall"):
            use_cpu = opt == "--cpu"
        else:
            sys.exit(__doc__)
    if len(args) < 4 or args[2] != "--":
        sys.exit(__doc__)
    sides = [parse_side(args[0]), parse_side(args[1])]
    program, program_args = args[3], args[4:]
    results = [[], []]
    for r in range(rounds):
        for s in ([0, 1] if r % 2 == 0 else [1, 0]):
            folder, extra = sides[s]
            env = dict(os.environ, **extra)
            cmd = [os.path.join(folder, "bench", program)] + program_args
            done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
            results[s].append(figures(done.stdout, use_cpu))
            print(f"round {r + 1}/{rounds} {'AB'[s]} done", file=sys.stderr, flush=True)
    names = [n for n in results[0][0] if all(n in res for side in results for res in side)]
    for n in names:
        a = [res[n] for res in results[0]]
        b = [res[n] for res in results[1]]
        ratios = [y / x for x, y in zip(a, b) if x > 0]
        print(json.dumps({
            "name": n, "unit": "ratio", "b_over_a": round(statistics.median(ratios), 4) if ratios else None,
            "a_median": statistics.median(a), "b_median": statistics.median(b),
            "ratios": [round(x, 4) for x in ratios], "rounds": rounds, "time": "cpu" if use_cpu else "wall",
            "a": args[0], "b": args[1]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
