"""Word-start text search that ignores case and accents, for autocomplete.

Every document (a concept: its display, designations and code) is cut into normalised
words. The index keeps the distinct words sorted, and for each word the documents that
contain it, all postings laid end to end in word order. The words starting with a prefix
form one contiguous run of the sorted list, so their documents are one contiguous slice
of the postings: a query word costs two binary searches and one slice, whatever the size
of the code system. A query matches the documents that have, for each query word, some
word starting with it ("frac col fem" finds "Fracture du col du fémur").
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Iterable

from socle.fhir.text import normalize

_WORD = re.compile(r"\w+")
_HIGH = "\U0010ffff"
_SPACE = re.compile(r"\s+")


def words_of(text: str | None) -> list[str]:
    """Normalised words: 'Fémur gauche (côté)' -> ['femur', 'gauche', 'cote']."""
    if not text:
        return []
    return _WORD.findall(normalize(text))


class TextIndex:
    """Immutable prefix index over documents numbered 0..n-1."""

    __slots__ = ("words", "offsets", "postings", "size", "_short")

    def __init__(self, documents: Iterable[Iterable[str | None]]) -> None:
        by_word: dict[str, list[int]] = {}
        size = 0
        cache: dict[str, list[str]] = {}  # raw token -> its normalised words
        for doc, texts in enumerate(documents):
            size = doc + 1
            seen: set[str] = set()
            for text in texts:
                if not text:
                    continue
                words: list[str] = []
                for token in _SPACE.split(text):
                    found = cache.get(token)
                    if found is None:
                        if token.isascii() and token.isalnum():
                            found = [token.lower()]  # the common case, 10x faster
                        else:
                            found = words_of(token)
                        cache[token] = found
                    words.extend(found)
                for word in words:
                    if word not in seen:
                        seen.add(word)
                        posting = by_word.get(word)
                        if posting is None:
                            by_word[word] = [doc]
                        else:
                            posting.append(doc)
        self.size = size
        self.words = sorted(by_word)
        offsets = array("q", [0])
        postings = array("q")
        for word in self.words:
            postings.extend(by_word[word])
            offsets.append(len(postings))
        self.offsets = offsets
        self.postings = postings
        self._short: dict[str, array] = {}  # 1-2 letter prefixes: documents, sorted

    def _docs(self, prefix: str, start: int, end: int) -> array | None:
        """Sorted distinct documents of a short prefix, kept (few, but costly to merge)."""
        if len(prefix) > 2 or end - start < 2048:
            return None
        found = self._short.get(prefix)
        if found is None:
            found = array("q", sorted(set(self.postings[start:end])))
            if len(self._short) < 4096:
                self._short[prefix] = found
        return found

    def _run(self, prefix: str) -> tuple[int, int]:
        lo = bisect_left(self.words, prefix)
        hi = bisect_left(self.words, prefix + _HIGH, lo)
        return self.offsets[lo], self.offsets[hi]

    def search(self, query: str) -> list[int] | None:
        """Sorted document numbers matching every query word; None when the query is empty."""
        prefixes = sorted(set(words_of(query)), key=len, reverse=True)
        if not prefixes:
            return None
        runs = sorted(((p, *self._run(p)) for p in prefixes), key=lambda r: r[2] - r[1])
        if runs[0][1] == runs[0][2]:
            return []
        if len(runs) == 1:
            prefix, start, end = runs[0]
            short = self._docs(prefix, start, end)
            if short is not None:
                return short.tolist()
            if self.offsets[bisect_left(self.offsets, start) + 1] == end:  # one word
                return self.postings[start:end].tolist()
            return sorted(set(self.postings[start:end]))
        result: set[int] | None = None
        for prefix, start, end in runs:
            if start == end:
                return []
            docs = self._docs(prefix, start, end)
            part = docs if docs is not None else self.postings[start:end]
            if result is None:
                result = set(part)
            else:
                result.intersection_update(part)
            if not result:
                return []
        return sorted(result or ())


def matches(query_words: list[str], texts: Iterable[str | None]) -> bool:
    """The same rule as TextIndex, for a single document (small value sets)."""
    words = [w for t in texts for w in words_of(t)]
    return all(any(w.startswith(q) for w in words) for q in query_words)
