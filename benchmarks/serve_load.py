"""Load check of `nmt serve`: latency for one client, throughput for several, every request counted.

Starts `python -m nmt serve` (a new process, on 127.0.0.1 and a free port: nothing else is
contacted) over the runs given, then
(a) one client sends `--requests` translations one after the other: latency p50 / p95;
(b) `--clients` clients (threads) send translations for `--seconds` seconds: answers per second
    and their latency.
Every request must be answered with HTTP 200 and a translation per run; the others are counted
as errors (and the exit code is 1). The requests are `POST /api/translate` with the page's
defaults (greedy unless --decode says otherwise), so each answer also carries the cross-attention
of every layer and head; the sentences cycle through a fixed list.

Run:
    python benchmarks/serve_load.py --run runs/small-transformer [--run runs/small-rnn]
Without --run it serves the tiny saved Transformer of the tests
(tests/fixtures/saved_runs/transformer-word). The last line printed is one JSON object.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from nmt import serve  # noqa: E402  (the checkout, not an installed copy)
DEFAULT_RUN = os.path.join(ROOT, "tests", "fixtures", "saved_runs", "transformer-word")
HOST = "127.0.0.1"
SENTENCES = ["Where is the train station?", "I love AI.", "She is reading a book in the garden.",
             "We will go to the beach tomorrow if it does not rain.", "Tom ran.",
             "Can you help me, please?", "It is too late to go out tonight.", "Go."]


def ask(url, body, expected_runs, timeout=120):
    """(seconds, error or None) of one POST /api/translate."""
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(f"{url}/api/translate", data=data,
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
        seconds = time.perf_counter() - started
        runs = answer.get("runs", [])
        if len(runs) != expected_runs or any("translation" not in run for run in runs):
            return seconds, "an answer without a translation per run"
        return seconds, None
    except urllib.error.HTTPError as error:
        return time.perf_counter() - started, f"HTTP {error.code}: {error.read()[:200]!r}"
    except (OSError, ValueError) as error:
        return time.perf_counter() - started, f"{type(error).__name__}: {error}"


def percentile(values, q):
    """The q-th percentile (0..100) of `values`, nearest rank; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def one_client(url, options, requests, expected_runs):
    latencies, errors = [], []
    for i in range(requests):
        seconds, error = ask(url, {"text": SENTENCES[i % len(SENTENCES)], **options},
                             expected_runs)
        latencies.append(seconds)
        if error:
            errors.append(error)
    return latencies, errors


def many_clients(url, options, clients, seconds, expected_runs):
    """Latencies and errors of `clients` threads sending requests until `seconds` have passed
    (a request started before the end is waited for), and the wall time."""
    latencies, errors, lock = [], [], threading.Lock()
    stop = time.monotonic() + seconds

    def client(index):
        i = index
        while time.monotonic() < stop:
            took, error = ask(url, {"text": SENTENCES[i % len(SENTENCES)], **options},
                              expected_runs)
            with lock:
                latencies.append(took)
                if error:
                    errors.append(error)
            i += clients

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, time.perf_counter() - started


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", help="run folder (repeatable; default: the "
                        "tiny saved Transformer of the tests)")
    parser.add_argument("--requests", type=int, default=100,
                        help="requests of the single client (default: 100)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default: 8)")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="how long the concurrent clients send requests (default: 30)")
    parser.add_argument("--decode", choices=("greedy", "beam", "sample"), default="greedy",
                        help="decoding of every request (default: greedy)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.clients < 1 or not args.seconds > 0:
        parser.error("--requests and --clients must be >= 1 and --seconds > 0")
    runs = args.run or [DEFAULT_RUN]
    options = {"decode": args.decode}
    try:
        process, url = serve.start(runs, "--host", HOST)
    except serve.ServeError as error:
        raise SystemExit(f"serve_load: {error}") from None
    try:
        ask(url, {"text": SENTENCES[0], **options}, len(runs))  # compile this decoding once
        single, single_errors = one_client(url, options, args.requests, len(runs))
        many, many_errors, wall = many_clients(url, options, args.clients, args.seconds, len(runs))
        alive = process.poll() is None
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()

    ms = lambda s: None if s is None else round(1000 * s, 1)  # noqa: E731
    result = {
        "runs": runs, "decode": args.decode, "cpu": cpu_model(), "cpus": os.cpu_count(),
        "single": {"requests": len(single), "errors": len(single_errors),
                   "p50_ms": ms(percentile(single, 50)), "p95_ms": ms(percentile(single, 95))},
        "concurrent": {"clients": args.clients, "seconds": round(wall, 2),
                       "requests": len(many), "errors": len(many_errors),
                       "requests_per_s": round((len(many) - len(many_errors)) / wall, 2),
                       "p50_ms": ms(percentile(many, 50)), "p95_ms": ms(percentile(many, 95))},
        "server_alive": alive,
    }
    print(f"nmt serve load check: {', '.join(runs)} ({args.decode}); {result['cpu']}, "
          f"{result['cpus']} CPUs")
    print(f"{'phase':28s} {'requests':>9s} {'errors':>7s} {'p50 ms':>8s} {'p95 ms':>8s} "
          f"{'answers/s':>10s}")
    s, c = result["single"], result["concurrent"]
    print(f"{'1 client, one at a time':28s} {s['requests']:>9,} {s['errors']:>7,} "
          f"{s['p50_ms']:>8.1f} {s['p95_ms']:>8.1f} {'':>10s}")
    print(f"{f'{args.clients} clients, {wall:.0f} s':28s} {c['requests']:>9,} {c['errors']:>7,} "
          f"{c['p50_ms']:>8.1f} {c['p95_ms']:>8.1f} {c['requests_per_s']:>10.2f}")
    for error in sorted(set(single_errors + many_errors))[:5]:
        print(f"error: {error}")
    if not alive:
        print("error: the server stopped during the check")
    print(json.dumps(result))
    return 1 if single_errors or many_errors or not alive else 0


if __name__ == "__main__":
    sys.exit(main())
