"""Train a Gaussian naive Bayes classifier on the iris data set.

Standard library only, so it runs wherever Python 3 does. Writes the model and its metrics as
JSON into --model-dir and prints the test accuracy.
"""

import argparse
import csv
import json
import math
import os
import random
import statistics


def read_iris(path):
    """Rows of four measurements and a class index, and the class names from the header."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        names = header[2:]
        rows = [([float(v) for v in row[:4]], int(row[4])) for row in reader if row]
    return rows, names


def split(rows, test_fraction, seed):
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    cut = int(round(len(shuffled) * (1 - test_fraction)))
    return shuffled[:cut], shuffled[cut:]


def fit(rows):
    """Per class: prior, and mean and variance of each feature."""
    model = {}
    classes = sorted({label for _, label in rows})
    for label in classes:
        features = [x for x, y in rows if y == label]
        columns = list(zip(*features))
        model[label] = {
            "prior": len(features) / len(rows),
            "mean": [statistics.fmean(c) for c in columns],
            "var": [statistics.pvariance(c) + 1e-9 for c in columns],
        }
    return model


def predict(model, x):
    def log_likelihood(params):
        total = math.log(params["prior"])
        for value, mean, var in zip(x, params["mean"], params["var"]):
            total += -0.5 * math.log(2 * math.pi * var) - (value - mean) ** 2 / (2 * var)
        return total

    return max(model, key=lambda label: log_likelihood(model[label]))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="iris.csv in scikit-learn's format")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model-dir", required=True)
    args = parser.parse_args()

    rows, names = read_iris(args.data)
    train, test = split(rows, args.test_fraction, args.seed)
    model = fit(train)
    correct = sum(predict(model, x) == y for x, y in test)
    accuracy = correct / len(test)

    os.makedirs(args.model_dir, exist_ok=True)
    with open(os.path.join(args.model_dir, "model.json"), "w") as f:
        json.dump({"classes": names, "parameters": {str(k): v for k, v in model.items()}}, f, indent=2)
    metrics = {"accuracy": accuracy, "train_rows": len(train), "test_rows": len(test)}
    with open(os.path.join(args.model_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"trained on {len(train)} rows, tested on {len(test)}")
    print(f"accuracy: {accuracy:.3f}")


if __name__ == "__main__":
    main()
