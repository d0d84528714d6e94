"""Pairs for ``rnnkit seq2seq``: reading a Tatoeba-style pair file, the character vocabularies,
id arrays for teacher forcing, the splits, and the scores (exact match, character error rate).

Ids: 0 pads both sides (and is masked); the source has 1 for a character the model never saw;
the target has 1 = start and 2 = end. The other ids are the characters in sorted order.
"""
import numpy as np

from .console import CliError
from .reading import open_text

PAD, UNKNOWN = 0, 1
START, END = 1, 2
SOURCE_RESERVED, TARGET_RESERVED = 2, 3
#: held out from the shuffled pairs: the last TEST_FRACTION for the scores, the VALIDATION_FRACTION
#: before them for the validation loss that picks the best epoch
TEST_FRACTION = VALIDATION_FRACTION = 0.1
MIN_PAIRS = 10


def read_pairs(path, max_pairs, max_source_length, max_target_length):
    """The (source, target) pairs of a tab-separated file, in file order.

    One pair a line: source, a tab, target; further tab-separated columns are ignored (Tatoeba's
    files add an attribution); blank lines are skipped; at most ``max_pairs`` pairs are read (the
    first ones, as the keras-io example reads the first ``num_samples`` lines). A line without a
    tab, an empty source or target, or a side longer than its limit is a :class:`CliError` naming
    the line.
    """
    pairs = []
    with open_text("--pairs", path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if len(pairs) >= max_pairs:
                break
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            columns = line.split("\t")
            if len(columns) < 2:
                raise CliError(f"--pairs {path!r} line {number} has no tab between a source and a target: "
                               f"{_short(line)}")
            source, target = columns[0], columns[1]
            for side, text, limit, option in (("source", source, max_source_length, "--max-source-length"),
                                              ("target", target, max_target_length, "--max-target-length")):
                if not text:
                    raise CliError(f"--pairs {path!r} line {number} has an empty {side}")
                if len(text) > limit:
                    raise CliError(f"--pairs {path!r} line {number}: the {side} has {len(text)} characters, more "
                                   f"than {option} {limit}; raise it or leave such lines out")
            pairs.append((source, target))
    if len(pairs) < MIN_PAIRS:
        raise CliError(f"--pairs {path!r} holds {len(pairs)} pairs" + (" (it is empty)" if not pairs else "")
                       + f"; at least {MIN_PAIRS} are needed to train and hold some out")
    return pairs


def check_lengths(pairs, max_source_length, max_target_length, what):
    """Refuse generated pairs longer than the limits (the limits bound the model's sequences)."""
    for side, index, limit, option in (("source", 0, max_source_length, "--max-source-length"),
                                       ("target", 1, max_target_length, "--max-target-length")):
        longest = max(len(pair[index]) for pair in pairs)
        if longest > limit:
            raise CliError(f"{what}: a {side} has {longest} characters, more than {option} {limit}")


def split(pairs, seed):
    """(train, validation, test) of the pairs shuffled with ``seed``; each held-out part is 10%, at least 1."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    held = max(1, int(round(len(pairs) * TEST_FRACTION)))
    shuffled = [pairs[i] for i in order.tolist()]
    return shuffled[:-2 * held], shuffled[-2 * held:-held], shuffled[-held:]


def vocabularies(pairs):
    """(source characters, target characters): the sorted distinct characters of each side."""
    return "".join(sorted({c for s, _ in pairs for c in s})), "".join(sorted({c for _, t in pairs for c in t}))


def encode_sources(texts, characters, length=None):
    """(N, length) int32 ids, 0-padded; a character not in ``characters`` is :data:`UNKNOWN`."""
    index = {c: i + SOURCE_RESERVED for i, c in enumerate(characters)}
    length = length or max(1, max(len(t) for t in texts))
    ids = np.zeros((len(texts), length), np.int32)
    for row, text in enumerate(texts):
        ids[row, :len(text)] = [index.get(c, UNKNOWN) for c in text[:length]]
    return ids


def encode_targets(texts, characters):
    """Teacher forcing arrays: (target in = start y_1..y_n, target out = y_1..y_n end), (N, n_max + 1), 0-padded."""
    index = {c: i + TARGET_RESERVED for i, c in enumerate(characters)}
    length = max(len(t) for t in texts) + 1
    target_in = np.zeros((len(texts), length), np.int32)
    target_out = np.zeros((len(texts), length), np.int32)
    for row, text in enumerate(texts):
        ids = [index[c] for c in text]
        target_in[row, :len(ids) + 1] = [START] + ids
        target_out[row, :len(ids) + 1] = ids + [END]
    return target_in, target_out


def decode_target(ids, characters):
    """The text of generated target ids (reserved ids are dropped)."""
    return "".join(characters[i - TARGET_RESERVED] for i in ids if i >= TARGET_RESERVED)


def edit_distance(a, b):
    """Levenshtein distance: the fewest insertions, deletions and substitutions turning a into b."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def scores(predictions, references):
    """{"exact_match": share of predictions equal to their reference, "cer": Σ edit distance / Σ len(reference)}."""
    exact = sum(p == r for p, r in zip(predictions, references)) / len(references)
    edits = sum(edit_distance(p, r) for p, r in zip(predictions, references))
    return {"exact_match": exact, "cer": edits / max(1, sum(len(r) for r in references))}


def baselines(train, test):
    """Trivial answers scored like the model: copy the source; always the most frequent training target."""
    targets = [t for _, t in train]
    values, counts = np.unique(np.array(targets, dtype=object), return_counts=True)
    frequent = str(values[int(np.argmax(counts))])
    references = [t for _, t in test]
    return {"copy the source": scores([s for s, _ in test], references),
            "most frequent target": scores([frequent] * len(test), references)}


def _short(text):
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")
