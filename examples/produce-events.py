#!/usr/bin/python3
"""Sends contract events (JSON lines, one CloudEvents 1.0 event each) to provbridge's events
topic with Python's confluent-kafka (Debian: python3-confluent-kafka).

Each record is keyed <app>/<object type>/<object id>, so that all events about one object of one
app land in one partition, in order. By default the record is the whole event (CloudEvents
structured mode); with --binary the CloudEvents attributes go in ce_* headers and the record is
the event's data (binary mode). The producer is idempotent and waits for every acknowledgement;
the exit code is 1 when an event was not delivered, 2 when a line is not an event.

    ./examples/produce-events.py --bootstrap 127.0.0.1:9092 < events.jsonl
    ./examples/produce-events.py --bootstrap 127.0.0.1:9092 --binary events.jsonl
"""
import argparse
import json
import sys

from confluent_kafka import Producer


def record_of(event, binary):
    data = event["data"]
    key = f'{data["app"]}/{data["object"]["type"]}/{data["object"]["id"]}'
    if not binary:
        return key, json.dumps(event, ensure_ascii=False), None
    headers = [("content-type", "application/json")]
    for name, value in event.items():
        if name != "data":
            headers.append((f"ce_{name}", str(value)))
    return key, json.dumps(data, ensure_ascii=False), headers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="bootstrap.servers, e.g. 127.0.0.1:9092")
    parser.add_argument("--topic", default="provisioning.events")
    parser.add_argument("--binary", action="store_true", help="CloudEvents binary mode (ce_* headers)")
    parser.add_argument("input", nargs="?", help="JSON lines (default: standard input)")
    args = parser.parse_args()

    producer = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True, "acks": "all"})
    failed = []

    def delivered(error, message):
        if error is not None:
            failed.append(f"{message.key().decode()}: {error}")

    lines = open(args.input, encoding="utf-8") if args.input else sys.stdin
    sent = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            key, value, headers = record_of(json.loads(line), args.binary)
        except (ValueError, KeyError, TypeError) as e:
            print(f"line {number}: not a contract event: {e!r}", file=sys.stderr)
            return 2
        producer.produce(args.topic, key=key, value=value.encode(), headers=headers, on_delivery=delivered)
        producer.poll(0)
        sent += 1
    if producer.flush(30) > 0:
        failed.append("not every event was acknowledged within 30 s")
    for reason in failed:
        print(f"not delivered: {reason}", file=sys.stderr)
    print(f"sent {sent - len(failed)} of {sent} events to {args.topic}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
