"""Fits a one-feature threshold classifier on iris rows; standard library only."""

import argparse
import csv
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--max-depth", type=int, default=3)
    parser.add_argument("--model-dir", required=True)
    args = parser.parse_args()

    with open(args.data, newline="") as handle:
        rows = list(csv.DictReader(handle))
    feature = next(iter(rows[0]))
    values = sorted(float(row[feature]) for row in rows)
    threshold = values[len(values) // 2]
    os.makedirs(args.model_dir, exist_ok=True)
    with open(os.path.join(args.model_dir, "model.json"), "w") as handle:
        json.dump({"feature": feature, "threshold": threshold, "max_depth": args.max_depth}, handle)
    print(f"rows={len(rows)} feature={feature} threshold={threshold}")


if __name__ == "__main__":
    main()
