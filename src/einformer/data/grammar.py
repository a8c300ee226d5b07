"""A small template grammar of English sentences, for fine-tuning and probing without external data.

Subject-verb agreement across an attractor (Linzen et al. 2016): in "the doctor near the pilots
likes the dog", the verb agrees with "doctor", not with the nearer plural "pilots". The attractor
always has the other number, so a model that copies the nearest noun's number gets it wrong.
Nouns are split between train and test, so a model cannot pass by memorising noun-verb pairs.

    python -m einformer.data.grammar OUTDIR    # writes agreement_{train,val,test}.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

NOUNS = [
    ("dog", "dogs"),
    ("cat", "cats"),
    ("teacher", "teachers"),
    ("farmer", "farmers"),
    ("doctor", "doctors"),
    ("student", "students"),
    ("king", "kings"),
    ("girl", "girls"),
    ("boy", "boys"),
    ("writer", "writers"),
    ("pilot", "pilots"),
    ("lawyer", "lawyers"),
    ("artist", "artists"),
    ("nurse", "nurses"),
    ("soldier", "soldiers"),
    ("singer", "singers"),
    ("driver", "drivers"),
    ("baker", "bakers"),
    ("friend", "friends"),
    ("neighbor", "neighbors"),
]
TEST_NOUNS = {"singer", "driver", "baker", "friend", "neighbor"}  # never seen in training
VERBS = [
    ("likes", "like"),
    ("sees", "see"),
    ("knows", "know"),
    ("helps", "help"),
    ("visits", "visit"),
    ("admires", "admire"),
    ("follows", "follow"),
    ("calls", "call"),
]
PREPOSITIONS = ["near", "behind", "with", "beside", "next to"]
ADJECTIVES = ["old", "young", "tall", "happy", "quiet", "clever"]


def agreement_example(rng: random.Random, nouns: list[tuple[str, str]]) -> dict:
    """One sentence and whether its verb agrees with its subject (label 1) or with the attractor (0)."""
    (subj_s, subj_p), (attr_s, attr_p), (obj_s, obj_p) = rng.sample(nouns, 3)
    plural = rng.random() < 0.5
    subject, attractor = (subj_p, attr_s) if plural else (subj_s, attr_p)
    verb_s, verb_p = rng.choice(VERBS)
    correct = rng.random() < 0.5
    verb = (verb_p if plural else verb_s) if correct else (verb_s if plural else verb_p)
    adjective = f"{rng.choice(ADJECTIVES)} " if rng.random() < 0.5 else ""
    obj = rng.choice([obj_s, obj_p])
    text = f"the {adjective}{subject} {rng.choice(PREPOSITIONS)} the {attractor} {verb} the {obj} ."
    return {"text": text, "label": "grammatical" if correct else "ungrammatical"}


def agreement_splits(n_train: int = 2000, n_val: int = 400, n_test: int = 1000, seed: int = 0):
    """Train and validation use 15 nouns; test uses 5 other nouns (as subjects, attractors and objects)."""
    rng = random.Random(seed)
    train_nouns = [n for n in NOUNS if n[0] not in TEST_NOUNS]
    test_nouns = [n for n in NOUNS if n[0] in TEST_NOUNS]
    train = [agreement_example(rng, train_nouns) for _ in range(n_train)]
    val = [agreement_example(rng, train_nouns) for _ in range(n_val)]
    test = [agreement_example(rng, test_nouns) for _ in range(n_test)]
    return train, val, test


def write_agreement(directory: str | Path, seed: int = 0) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, records in zip(("train", "val", "test"), agreement_splits(seed=seed), strict=True):
        path = directory / f"agreement_{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_agreement(sys.argv[1] if len(sys.argv) > 1 else "."):
        print(p)
