"""Benchmark qstash_dev: publish -> signed delivery latency, and sustained deliveries per second.

    .venv/bin/python bench/qstash_dev.py [--latency-messages 300] [--throughput-messages 3000]
                                         [--flow-parallelism 8]

Runs a fresh `python -m qstash_dev` (via tests.support.qstash_server) against an
empty local handler that answers 200 at once, with the real `qstash` SDK as
publisher; the throughput is measured once plain and once through one flow-control
key. It reports numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qstash import QStash  # noqa: E402
from qstash.message import FlowControl  # noqa: E402

from tests.support.qstash_server import QStashDevProcess  # noqa: E402
from tests.support.recorder import Recorder  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the sorted values fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def measure_latency(client: QStash, handler: Recorder, count: int, path: str = "/latency") -> list[float]:
    """Publish one message at a time; seconds from the publish call to its arrival."""
    latencies = []
    for i in range(count):
        started = time.time()
        client.message.publish(url=f"{handler.url}{path}", body=str(i))
        [arrived] = handler.wait_for(i + 1, path=path, timeout=30)[i:]
        latencies.append(arrived.time - started)
    return latencies


def measure_throughput(client: QStash, handler: Recorder, count: int, publishers: int,
                       path: str = "/throughput", flow: FlowControl | None = None) -> tuple[float, float]:
    """Publish `count` messages from `publishers` threads; return (publishes/s, deliveries/s)."""
    started = time.time()
    with ThreadPoolExecutor(publishers) as pool:
        list(pool.map(lambda i: client.message.publish(url=f"{handler.url}{path}", body=str(i), flow_control=flow),
                      range(count)))
    published = time.time()
    deliveries = handler.wait_for(count, path=path, timeout=300)
    finished = max(d.time for d in deliveries)
    return count / (published - started), count / (finished - started)


def main() -> None:
    """Run both measurements and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-messages", type=int, default=300)
    parser.add_argument("--throughput-messages", type=int, default=3000)
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument("--flow-parallelism", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, Recorder() as handler, \
            QStashDevProcess(Path(tmp) / "bench.db", retry_scale=1) as server:
        client = QStash(server.token, base_url=server.url, retry=False)
        measure_latency(client, handler, 20, "/warm-up")  # connections, page cache
        latencies = measure_latency(client, handler, args.latency_messages)
        publish_rate, delivery_rate = measure_throughput(client, handler, args.throughput_messages, args.publishers)
        # The same through one flow-control key: the claim step then reads the key's budget.
        _, flow_rate = measure_throughput(client, handler, args.throughput_messages, args.publishers, "/flow",
                                          FlowControl(key="bench", parallelism=args.flow_parallelism))

    rows = [
        ("publish -> delivery latency p50", f"{statistics.median(latencies) * 1000:.1f} ms"),
        ("publish -> delivery latency p99", f"{percentile(latencies, 0.99) * 1000:.1f} ms"),
        ("publish -> delivery latency max", f"{max(latencies) * 1000:.1f} ms"),
        (f"publishes/s ({args.publishers} threads, one SDK client)", f"{publish_rate:.0f}"),
        ("sustained deliveries/s (publish start -> last delivery)", f"{delivery_rate:.0f}"),
        (f"  the same through one flow-control key (parallelism {args.flow_parallelism})", f"{flow_rate:.0f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"qstash_dev benchmark: {args.latency_messages} sequential messages, "
          f"{args.throughput_messages} concurrent, empty 200 handler on loopback")
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  {'-' * 10}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
