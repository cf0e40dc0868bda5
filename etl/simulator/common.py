"""The API vocabulary the simulator's generators share, and their hash-seeded randomness.

Pure. Every number the simulator makes comes from an RNG seeded by :func:`stable_hash` of
what it describes (seed, eval id, split, image index, ...), so no value depends on the
order in which bodies are built.
"""

from __future__ import annotations

import hashlib
import random

SPLITS = ("train", "valid", "test")  # also the order images are indexed in
SPLIT_ORDER = ("test", "valid", "train")  # the order the docs' examples list splits in
STATUSES = ("running", "done", "failed")
PANEL_NAMES = ("map-results", "confidence-sweep", "performance-by-class", "confusion-matrix",
               "vector-analysis", "image-predictions", "recommendations")
FAULT_KINDS = ("429", "429_retry_after", "429_retry_after_date", "500_html", "502_html", "503",
               "drop", "slow", "truncated", "409_transient")
DETECTION, SEMSEG = "object-detection-like", "semantic-segmentation"
THRESHOLD_KEYS = tuple(f"{i / 100:.2f}" for i in range(100))
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
CLASS_WORDS = ("car", "truck", "person", "helmet", "vest", "scratch", "dent", "crack", "rim",
               "bolt", "white-queen", "black-king", "pawn", "Car-rims", "music-note", "road",
               "sky", "building", "tree", "fish", "shelf-gap", "label", "solder", "roof")


CONFUSED_PAIR = ("car", "truck")  # docs/views.md asks where cars were taken for trucks


def leading_pair(classes: tuple[str, ...]) -> tuple[str, ...]:
    """``classes`` led by :data:`CONFUSED_PAIR`, as long as before, its last class still last."""
    rest = [c for c in classes if c not in CONFUSED_PAIR]
    return (*CONFUSED_PAIR, *rest[len(rest) - (len(classes) - 2):])


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of ``parts`` that is the same in every process and Python version."""
    text = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def rng_for(*parts: object) -> random.Random:
    return random.Random(stable_hash(*parts))


def ident(rng: random.Random, length: int = 20) -> str:
    """A Firestore-style id: ``length`` characters of [A-Za-z0-9]."""
    return "".join(rng.choice(ALPHABET) for _ in range(length))
