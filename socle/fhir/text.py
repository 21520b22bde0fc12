"""Text normalisation for string search: case-, accent- and punctuation-insensitive.

The same function is used when indexing and when querying, so both sides agree.
"""

from __future__ import annotations

import re
import unicodedata

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss", "ø": "o"})
_PUNCT = re.compile(r"[\s\-‐‑–—'’`´_.,;:/]+")


def normalize(value: str) -> str:
    """Fold case, accents, ligatures and punctuation: 'Lœtitia-Hélène' -> 'loetitia helene'."""
    value = value.translate(_LIGATURES)
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _PUNCT.sub(" ", stripped.casefold()).strip()
