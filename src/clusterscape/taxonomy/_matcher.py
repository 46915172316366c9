"""Vectorised multi-keyword matching: an Aho-Corasick automaton over UTF-8 bytes run as a DFA.

All texts advance through the automaton together, one byte position per NumPy step (the Python
loop runs over byte *positions*, never over rows), so the cost is a few array operations per
byte of text however many keywords there are (Aho & Corasick 1975, "Efficient string matching:
an aid to bibliographic search", CACM 18(6):333-340).

Texts and keywords are folded alike first: Unicode NFKD, combining accents (U+0300-U+036F)
removed, lower case, and ``ß ø æ œ ł đ ı`` spelt ``ss o ae oe l d i`` (so "Laboratório" matches
``laboratorio`` and "Designbüro" matches ``designburo``). Latin words then match only as whole
words (like RE2 ``\\b``): every run of ASCII letters, in texts and keywords alike, is wrapped in
``\\x01`` markers before matching, so ``\\x01bar\\x01`` cannot match inside
``\\x01barber\\x01``. A keyword may relax this with ``*`` for compound words: ``*suunnittelu``
matches at the end of a word ("Grafiikkasuunnittelu"), ``design*`` at its start ("Designbüro"),
``*foto*`` anywhere in it. Chinese, Japanese and Korean keywords match anywhere. When several
keywords occur in a text, the highest score wins.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["KeywordMatcher"]

_WORD = re.compile(r"([A-Za-z]+)")
_NONE = np.iinfo(np.int64).min
_LETTER = np.zeros(256, dtype=bool)
_LETTER[65:91] = True
_LETTER[97:123] = True


_ACCENTS = re.compile("[\u0300-\u036f]")
#: Latin letters that NFKD does not decompose, and their usual ASCII spelling.
_SPECIAL = {"ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ı": "i", "þ": "th"}
_SPECIAL_RE = "[" + "".join(_SPECIAL) + "]"


def fold(text: str) -> str:
    """Accent- and case-folded text (NFKD, accents dropped, lower case, ``ß`` -> ``ss`` ...)."""
    out = _ACCENTS.sub("", unicodedata.normalize("NFKD", text)).lower()
    return re.sub(_SPECIAL_RE, lambda m: _SPECIAL[m.group(0)], out)


def _fold_array(arr: pa.Array) -> pa.Array:
    """:func:`fold` for an Arrow string array, in Arrow compute (no Python loop over texts)."""
    arr = pc.utf8_normalize(arr, form="NFKD")
    arr = pc.replace_substring_regex(arr, pattern="[\\x{0300}-\\x{036f}]", replacement="")
    arr = pc.utf8_lower(arr)
    for letter, spelt in _SPECIAL.items():
        arr = pc.replace_substring(arr, pattern=letter, replacement=spelt)
    return arr


def _mark_words(text: str) -> str:
    return _WORD.sub("\x01\\1\x01", fold(text))


def _encode_keyword(word: str) -> bytes:
    """UTF-8 pattern of a keyword: folded, words marked, ``*`` ends left open."""
    marked = _mark_words(word.strip())
    if marked.startswith("*\x01"):
        marked = marked[2:]
    if marked.endswith("\x01*"):
        marked = marked[:-2]
    return marked.strip("*").encode("utf-8")


class KeywordMatcher:
    """Find, for each text, the highest-scoring keyword it contains.

    Parameters
    ----------
    keywords : list of str
        The patterns, matched after folding (Latin words whole unless a ``*`` opens an end).
    scores : array of int
        One distinct score per keyword; the highest score found in a text wins.
    """

    def __init__(self, keywords: list[str], scores: np.ndarray) -> None:
        self.keywords = list(keywords)
        scores = np.asarray(scores, dtype=np.int64)
        if len(np.unique(scores)) != len(scores):
            raise ValueError("KeywordMatcher: scores must be distinct")
        goto: list[dict[int, int]] = [{}]
        own = [_NONE]
        for word, score in zip(self.keywords, scores, strict=True):
            encoded = _encode_keyword(word)
            if not encoded:
                continue
            s = 0
            for byte in encoded:
                nxt = goto[s].get(byte)
                if nxt is None:
                    nxt = len(goto)
                    goto[s][byte] = nxt
                    goto.append({})
                    own.append(_NONE)
                s = nxt
            own[s] = max(own[s], int(score))
        n_states = len(goto)
        delta = np.zeros((n_states, 256), dtype=np.int32)
        fail = np.zeros(n_states, dtype=np.int64)
        best = np.array(own, dtype=np.int64)  # best score of any keyword ending in this state
        for byte, child in goto[0].items():
            delta[0, byte] = child
        queue: deque[int] = deque(goto[0].values())
        while queue:  # breadth first: fail[s] is always finished before s
            s = queue.popleft()
            delta[s] = delta[fail[s]]
            best[s] = max(best[s], best[fail[s]])
            for byte, child in goto[s].items():
                delta[s, byte] = child
                fail[child] = delta[fail[s], byte] if s else 0
                queue.append(child)
        delta[:, 65:91] = delta[:, 97:123]  # A-Z move like a-z
        self._delta = delta.ravel().astype(np.int64) * 256  # next state, pre-multiplied
        self._best = best
        order = np.argsort(scores)
        self._sorted_scores = scores[order]
        self._sorted_ids = order

    def best(self, texts: list[str]) -> np.ndarray:
        """Index of the best keyword found in each text, ``-1`` where none is found."""
        n = len(texts)
        out = np.full(n, -1, dtype=np.int64)
        if n == 0 or not self.keywords:
            return out
        arr = _fold_array(pa.array(texts, type=pa.large_string()))
        offsets, data = _buffers(arr)
        if len(data) == 0:
            return out
        # texts with ASCII letters get their words marked; the rest (most Chinese names) as is
        where = np.flatnonzero(_LETTER[data])
        has_words = np.zeros(n, dtype=bool)
        has_words[np.searchsorted(offsets, where, side="right") - 1] = True
        score = np.full(n, _NONE, dtype=np.int64)
        plain = np.flatnonzero(~has_words)
        if len(plain):
            score[plain] = self._scan(offsets[plain], offsets[plain + 1] - offsets[plain], data)
        marked = np.flatnonzero(has_words)
        if len(marked):
            sub = pc.replace_substring_regex(
                arr.take(pa.array(marked)), pattern=r"([A-Za-z]+)", replacement="\x01\\1\x01"
            )
            sub_offsets, sub_data = _buffers(sub)
            score[marked] = self._scan(sub_offsets[:-1], np.diff(sub_offsets), sub_data)
        found = score > _NONE
        pos = np.searchsorted(self._sorted_scores, score[found])
        out[found] = self._sorted_ids[pos]
        return out

    def _scan(self, starts: np.ndarray, lengths: np.ndarray, data: np.ndarray) -> np.ndarray:
        """Best score per text, all texts stepping through the DFA together."""
        n = len(starts)
        order = np.argsort(-lengths, kind="stable")
        starts = starts[order]
        neg_lengths = -lengths[order]  # ascending
        state = np.zeros(n, dtype=np.int64)  # pre-multiplied by 256
        score = np.full(n, _NONE, dtype=np.int64)
        index = np.empty(n, dtype=np.int64)
        delta, best = self._delta, self._best
        for t in range(int(-neg_lengths[0]) if n else 0):
            k = int(np.searchsorted(neg_lengths, -t, side="left"))  # texts longer than t bytes
            idx = np.add(starts[:k], t, out=index[:k])
            idx = np.add(state[:k], data[idx], out=idx)
            state[:k] = delta[idx]
            np.maximum(score[:k], best[state[:k] >> 8], out=score[:k])
        result = np.empty(n, dtype=np.int64)
        result[order] = score
        return result


def _buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a large_string array, offsets relative to the byte view."""
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data_buf = arr.buffers()[2]
    if data_buf is None:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    return offsets, np.frombuffer(data_buf, dtype=np.uint8)
