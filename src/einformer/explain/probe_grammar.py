"""Probing sentences from a template grammar shipped in the code (no external data).

Each task returns (sentence, label) pairs; ``split`` says which half of the vocabulary fills the open
word classes: "train" and "test" use disjoint nouns, verbs and adjectives, so a probe cannot pass by
memorising which words go with which label. Each task also guards against the surface cues that
would let a bag of word embeddings (layer 0) solve it:

- subject/object number: the other noun always has the other number, and verbs are in the past
  tense (English past verbs do not agree), so the counts of plural words say nothing;
- tense: a relative clause of the other tense sits inside the subject;
- agreement: the attractor noun (inside a prepositional phrase) has the other number than the
  subject, and grammaticality is the XOR of subject and verb number;
- top constituent: a fronted modifier and a final one use the same words (a depth task built on
  nested phrases would give itself away by its count of prepositions);
- odd man out: the verb and its object come from matching or mismatched semantic classes, each class
  equally often in both labels.

Surface tasks (length, word content) are meant to be solvable at layer 0: that is their point.
"""

from __future__ import annotations

import random

# open classes: (train half, test half)
NOUNS = (
    [
        ("teacher", "teachers"),
        ("doctor", "doctors"),
        ("farmer", "farmers"),
        ("pilot", "pilots"),
        ("singer", "singers"),
        ("lawyer", "lawyers"),
        ("baker", "bakers"),
        ("nurse", "nurses"),
        ("writer", "writers"),
        ("driver", "drivers"),
    ],
    [
        ("painter", "painters"),
        ("student", "students"),
        ("soldier", "soldiers"),
        ("dancer", "dancers"),
        ("banker", "bankers"),
        ("sailor", "sailors"),
        ("author", "authors"),
        ("guard", "guards"),
        ("judge", "judges"),
        ("chef", "chefs"),
    ],
)
THINGS = (
    [
        ("key", "keys"),
        ("box", "boxes"),
        ("door", "doors"),
        ("table", "tables"),
        ("window", "windows"),
        ("lamp", "lamps"),
        ("chair", "chairs"),
        ("wall", "walls"),
    ],
    [
        ("cabinet", "cabinets"),
        ("bag", "bags"),
        ("gate", "gates"),
        ("desk", "desks"),
        ("shelf", "shelves"),
        ("bottle", "bottles"),
        ("bench", "benches"),
        ("basket", "baskets"),
    ],
)
# verbs: (present singular, present plural, past)
VERBS = (
    [
        ("sees", "see", "saw"),
        ("helps", "help", "helped"),
        ("calls", "call", "called"),
        ("likes", "like", "liked"),
        ("visits", "visit", "visited"),
        ("thanks", "thank", "thanked"),
    ],
    [
        ("meets", "meet", "met"),
        ("finds", "find", "found"),
        ("follows", "follow", "followed"),
        ("watches", "watch", "watched"),
        ("greets", "greet", "greeted"),
        ("warns", "warn", "warned"),
    ],
)
INTRANSITIVE = (
    [("sleeps", "sleep", "slept"), ("laughs", "laugh", "laughed"), ("waits", "wait", "waited")],
    [("smiles", "smile", "smiled"), ("sings", "sing", "sang"), ("runs", "run", "ran")],
)
ADJECTIVES = (
    ["old", "young", "tall", "quiet", "happy", "busy", "kind"],
    ["small", "famous", "tired", "clever", "strong", "polite", "calm"],
)
PREPOSITIONS = ["near", "behind", "beside", "under"]
ADVERBS = ["yesterday", "then", "again", "today", "suddenly"]
# semantic classes for odd man out: verb past forms and the objects they take
SEMANTIC = (
    {
        "food": (["ate", "cooked", "tasted"], ["bread", "soup", "rice", "cake"]),
        "text": (["read", "wrote", "printed"], ["letter", "book", "poem", "report"]),
        "vehicle": (["drove", "parked", "repaired"], ["car", "truck", "van", "bus"]),
    },
    {
        "food": (["baked", "served", "swallowed"], ["pie", "salad", "cheese", "pasta"]),
        "text": (["edited", "signed", "translated"], ["novel", "essay", "article", "note"]),
        "vehicle": (["towed", "washed", "steered"], ["tractor", "taxi", "boat", "jeep"]),
    },
)
CONTENT_WORDS = ["river", "garden", "music", "winter", "silver", "forest", "island", "mirror"]


def _half(split: str) -> int:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return 0 if split == "train" else 1


def _np(rng, nouns, number, adjectives, n_adj=0):
    words = ["the"] + rng.sample(adjectives, n_adj)
    return words + [rng.choice(nouns)[number]]


def _transitive(rng, h, subject_number, tense_past):
    verb = rng.choice(VERBS[h])
    return verb[2] if tense_past else verb[subject_number]


def subject_number(rng, split):
    """The main subject's number; the object has the other number; past tense (no agreement)."""
    h, s = _half(split), rng.randint(0, 1)
    subject = _np(rng, NOUNS[h], s, ADJECTIVES[h], rng.randint(0, 1))
    obj = _np(rng, NOUNS[h], 1 - s, ADJECTIVES[h], rng.randint(0, 1))
    return " ".join(subject + [_transitive(rng, h, s, True)] + obj), s


def object_number(rng, split):
    """The object's number; the subject has the other number; past tense."""
    h, o = _half(split), rng.randint(0, 1)
    subject = _np(rng, NOUNS[h], 1 - o, ADJECTIVES[h], rng.randint(0, 1))
    obj = _np(rng, NOUNS[h], o, ADJECTIVES[h], rng.randint(0, 1))
    return " ".join(subject + [_transitive(rng, h, 1 - o, True)] + obj), o


def tense(rng, split):
    """Main verb past (1) or present (0); a relative clause in the subject has the other tense, and
    both verbs come from the same pool, so one past and one present verb are always there."""
    h, past, number = _half(split), rng.randint(0, 1), rng.randint(0, 1)
    inner = _transitive(rng, h, number, not past)
    main = _transitive(rng, h, number, bool(past))
    words = ["the", rng.choice(NOUNS[h])[number], "who", inner, "the", rng.choice(NOUNS[h])[rng.randint(0, 1)]]
    return " ".join(words + [main, "the", rng.choice(NOUNS[h])[rng.randint(0, 1)]]), past


def agreement(rng, split):
    """1 when the verb agrees with the subject, across an attractor of the other number."""
    h, s, ok = _half(split), rng.randint(0, 1), rng.randint(0, 1)
    subject = ["the", rng.choice(THINGS[h])[s]]
    attractor = [rng.choice(PREPOSITIONS), "the", rng.choice(THINGS[h])[1 - s]]
    verb = ["is", "are"][s if ok else 1 - s]
    return " ".join(subject + attractor + [verb, rng.choice(ADJECTIVES[h])]), ok


def top_constituent(rng, split):
    """1 when a modifier (a prepositional phrase or a "when" clause) is fronted before the subject,
    0 when the same words end the sentence: the top constituents are (MOD, NP, VP) or (NP, VP)."""
    h, fronted = _half(split), rng.randint(0, 1)
    if rng.random() < 0.5:
        modifier = [rng.choice(PREPOSITIONS), "the", rng.choice(THINGS[h])[rng.randint(0, 1)]]
    else:
        modifier = ["when", "the", rng.choice(NOUNS[h])[rng.randint(0, 1)], rng.choice(INTRANSITIVE[h])[2]]
    clause = _np(rng, NOUNS[h], 0, ADJECTIVES[h]) + [_transitive(rng, h, 0, True)]
    clause += _np(rng, NOUNS[h], 1, ADJECTIVES[h])
    # adverbs of random number at both ends move every phrase to varying absolute positions
    before, after = rng.sample(ADVERBS, rng.randint(0, 2)), rng.sample(ADVERBS, rng.randint(0, 2))
    return " ".join(before + (modifier + clause if fronted else clause + modifier) + after), fronted


def bigram_shift(rng, split):
    """1 when two adjacent words (not the first) were swapped."""
    h = _half(split)
    words = _np(rng, NOUNS[h], 0, ADJECTIVES[h], 1) + [rng.choice(VERBS[h])[2]]
    words += _np(rng, NOUNS[h], rng.randint(0, 1), ADJECTIVES[h], 1) + [rng.choice(PREPOSITIONS)]
    words += _np(rng, THINGS[h], 0, ADJECTIVES[h])
    shifted = rng.randint(0, 1)
    if shifted:
        i = rng.randrange(1, len(words) - 1)
        while words[i] == words[i + 1]:
            i = rng.randrange(1, len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words), shifted


def odd_man_out(rng, split):
    """1 when the verb's object is from another semantic class ("the nurse ate the truck")."""
    h, odd = _half(split), rng.randint(0, 1)
    classes = SEMANTIC[h]
    verb_class = rng.choice(sorted(classes))
    object_class = rng.choice(sorted(set(classes) - {verb_class})) if odd else verb_class
    subject = _np(rng, NOUNS[h], rng.randint(0, 1), ADJECTIVES[h])
    return " ".join(subject + [rng.choice(classes[verb_class][0]), "the", rng.choice(classes[object_class][1])]), odd


def sentence_length(rng, split):
    """Word count in 4 bins: 5-6, 7-8, 9-10, 11-12 (adjectives and prepositional phrases added)."""
    h = _half(split)
    n = rng.randint(5, 12)
    words = ["the", rng.choice(NOUNS[h])[0], rng.choice(VERBS[h])[2], "the", rng.choice(NOUNS[h])[1]]
    while len(words) < n:
        if n - len(words) >= 3 and rng.random() < 0.5:
            words += [rng.choice(PREPOSITIONS), "the", rng.choice(THINGS[h])[0]]
        else:
            words.insert(1, rng.choice(ADJECTIVES[h]))
    return " ".join(words), (n - 5) // 2


def word_content(rng, split):
    """Which one of 8 content words the sentence contains."""
    h, k = _half(split), rng.randrange(len(CONTENT_WORDS))
    words = _np(rng, NOUNS[h], rng.randint(0, 1), ADJECTIVES[h], rng.randint(0, 1))
    words += [rng.choice(VERBS[h])[2], "the", CONTENT_WORDS[k]]
    return " ".join(words), k


# task -> (family, generator, number of classes)
TASKS = {
    "length": ("surface", sentence_length, 4),
    "word_content": ("surface", word_content, len(CONTENT_WORDS)),
    "bigram_shift": ("syntactic", bigram_shift, 2),
    "top_constituent": ("syntactic", top_constituent, 2),
    "agreement": ("syntactic", agreement, 2),
    "tense": ("semantic", tense, 2),
    "subject_number": ("semantic", subject_number, 2),
    "object_number": ("semantic", object_number, 2),
    "odd_man_out": ("semantic", odd_man_out, 2),
}


def make_task(name: str, n: int, split: str, seed: int = 0) -> list[tuple[str, int]]:
    """``n`` distinct (sentence, label) pairs of task ``name``, deterministic by seed, classes balanced."""
    if name not in TASKS:
        raise ValueError(f"unknown probing task {name!r}; choose from {sorted(TASKS)}")
    _, generate, n_classes = TASKS[name]
    rng = random.Random(f"{name}-{split}-{seed}")
    per_class = {c: [] for c in range(n_classes)}
    seen, tries = set(), 0
    while sum(map(len, per_class.values())) < n:
        tries += 1
        if tries > 100 * n:
            raise ValueError(f"task {name}: cannot draw {n} distinct sentences; ask for fewer")
        sentence, label = generate(rng, split)
        if sentence in seen or len(per_class[label]) >= -(-n // n_classes):
            continue
        seen.add(sentence)
        per_class[label].append((sentence, label))
    pairs = [p for c in per_class.values() for p in c][:n]
    rng.shuffle(pairs)
    return pairs
