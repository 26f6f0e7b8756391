"""Train a small text classifier shaped like the seed article's model.

Two pre-processors (a CountVectorizer and a TfidfTransformer) and a
classifier, saved as three joblib files in pipeline order. The data is made
up here, offline: short product reviews, positive or negative.

    python train.py --version 1 --out model/v1
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import joblib
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression

POSITIVE = ["great", "excellent", "love", "fast", "reliable", "perfect", "happy", "recommend"]
NEGATIVE = ["broken", "slow", "terrible", "refund", "awful", "late", "disappointed", "faulty"]
NEUTRAL = ["the", "product", "delivery", "box", "item", "was", "it", "and", "very", "quite"]
FILES = ("1_vectorizer.joblib", "2_tfidf.joblib", "3_classifier.joblib")


def make_reviews(count: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(count):
        label = rng.choice(["positive", "negative"])
        words = POSITIVE if label == "positive" else NEGATIVE
        sentence = rng.sample(NEUTRAL, 4) + rng.sample(words, 2)
        rng.shuffle(sentence)
        texts.append(" ".join(sentence))
        labels.append(label)
    return texts, labels


def train(version: int, out: Path) -> list[Path]:
    texts, labels = make_reviews(400 * version, seed=version)
    vectorizer = CountVectorizer(ngram_range=(1, version))
    tfidf = TfidfTransformer()
    classifier = LogisticRegression(C=1.0 * version, max_iter=500)
    classifier.fit(tfidf.fit_transform(vectorizer.fit_transform(texts)), labels)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in FILES]
    for step, path in zip((vectorizer, tfidf, classifier), paths, strict=True):
        joblib.dump(step, path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", type=int, default=1, help="model version (changes the model)")
    parser.add_argument("--out", type=Path, default=Path("model/v1"))
    args = parser.parse_args()
    for path in train(args.version, args.out):
        print(path)


if __name__ == "__main__":
    main()
