"""Trait normalisation for INS identities, and the French phonetic key used in matching.

**Stored form** (`trait`): what INSi returns and what a qualified identity keeps:
upper case, no diacritics (``É`` -> ``E``, ``Ç`` -> ``C``, and the letters with a
stroke: ``Ø`` -> ``O``, ``Ł`` -> ``L``, ``Đ`` -> ``D``), ligatures spelled out
(``Œ`` -> ``OE``, ``Æ`` and ``Ǣ`` -> ``AE``, ``ß`` -> ``SS``), typographic apostrophes
and dashes (the minus sign ``−`` too) folded into ``'`` and ``-``, any other character
(punctuation, digits) read as a space, runs of spaces collapsed, no space around ``-``
and ``'``, repeated ``-`` or ``'`` kept once, none at either end.

**Comparison form** (`compare_key`): the stored form with hyphens and apostrophes read
as spaces, so ``LE-GALL``, ``LE GALL`` and ``L'E GALL``… compare by their words:
``JEAN-PIERRE`` = ``JEAN PIERRE``; ``D'ARC`` = ``D ARC``.

**First names**: the INS carries the list of birth first names separated by spaces
(``MARIE CLAIRE ANNE``) and, apart, the first one (``MARIE``). A compound first name is
one name (``JEAN-PIERRE``). `given_list` splits a list; `first_given` takes its first.

**Phonetic key** (`phonetic`): a simplified French phonetic code written for Socle (in
the spirit of Soundex-FR / Phonex, not a copy of either). On the comparison form without
spaces it rewrites letter groups to one symbol per sound, in this order:

0. read on the raw value: ``Ç`` -> S (the stored form makes it a C), a word ending in
   ``EBRE``/``EBRES`` -> ``EVRE`` (LEFEBRE, the V of LEFEBVRE left out);
1. silent or equivalent spellings: ``CHR``/``CHL`` -> KR/KL, ``PH``->F, ``QU``/``Q``/``CK``
   ->K, ``SCH``/``TCH``/``SH``/``CH`` -> 9 (the "ch" sound), ``S`` after a vowel before N
   dropped (DUCHESNE = DUCHENE), ``GU`` before E/I/Y -> G, ``GE`` before A/O/U -> J,
   ``GN``->N, ``TH``->T, ``H`` dropped, ``W``->V, ``Y``->I, ``Z``->S, ``X`` (not final) -> KS;
2. ``C`` before ``OIS`` -> S (FRANCOIS), before E/I/Y -> S, other ``C`` -> K; ``G`` before
   E/I/Y -> J;
3. vowel groups: ``EAU``/``AU``/``O``->O, ``OU``->U, ``OI``->A (as "wa"), ``UE`` before a
   consonant -> U (MUELLER = MULLER), ``ER``/``EZ`` at the end ->E, then
   ``IN``/``AIN``/``EIN``/``UN`` before a consonant or at the end -> 1 (the nasal "in",
   before ``AI``/``EI`` -> E: MARTAIN = MARTIN), ``AN``/``AM``/``EN``/``EM`` -> A (the
   nasal "an") and ``ON``/``OM`` -> O, both before a consonant or at the end;
4. ``B`` before V dropped (LEFEBVRE = LEFEVRE), ``S`` between vowels -> Z sound (kept as S);
5. final silent letters dropped: ``E``, ``S``, ``T``, ``D``, ``X``, ``Z`` (repeatedly, but
   never below two symbols), and doubled symbols collapsed.

So DUPONT, DUPOND and DUPON give ``DUPO``; LEFEBVRE, LEFEVRE and LEFEBRE give one key;
PHILIPPE and FILIPE, THOMAS and TOMAS, ROUSSEAU and ROUSSO agree. It is a blocking and
scoring aid, never a proof of identity.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Ligatures spelled out, and the Latin letters that Unicode does not decompose into a base
# letter + diacritic (a stroke or bar is part of the letter): without this table NFKD
# keeps them whole and they were dropped as "not kept" (ŁUKASZ -> UKASZ, ØYVIND -> YVIND);
# a diacritic is removed, never the letter.
_LIGATURES = str.maketrans(
    {
        "œ": "oe",
        "Œ": "OE",
        "æ": "ae",
        "Æ": "AE",
        "ß": "SS",
        "ẞ": "SS",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "ħ": "h",
        "Ħ": "H",
        "ŧ": "t",
        "Ŧ": "T",
        "ı": "i",
        "ƒ": "f",
    }
)
_APOSTROPHES = re.compile(r"[’‘`´ʼ′]")
# hyphen, non-breaking hyphen, figure dash, en and em dashes, horizontal bar, minus sign
_DASHES = re.compile(r"[‐‑‒–—―−]")
_NOT_KEPT = re.compile(r"[^A-Z '\-]")
_SPACES = re.compile(r"\s+")
_AROUND = re.compile(r"\s*([-'])\s*")


def _fold(text: str) -> str:
    """Typographic apostrophes and dashes as ' and -."""
    return _DASHES.sub("-", _APOSTROPHES.sub("'", text))


@lru_cache(maxsize=1 << 16)
def trait(value: str | None) -> str:
    """The stored form of a name trait (see module doc); '' for None.

    Cached: the feed and the identity index normalise the same names for every message
    (a dozen traits each), and a population has far fewer distinct names than people."""
    if not value:
        return ""
    # decomposed before the ligatures are spelled out: Ǣ is Æ + a macron, and the Æ it
    # decomposes to must become AE like any other; folded on both sides of NFKD, which
    # turns ´ into a space + an accent and a small em dash (U+FE58) into an em dash
    text = _fold(unicodedata.normalize("NFKD", _fold(value))).translate(_LIGATURES)
    text = "".join(c for c in text if not unicodedata.combining(c)).upper()
    text = _NOT_KEPT.sub(" ", text)
    text = _AROUND.sub(r"\1", _SPACES.sub(" ", text)).strip(" -'")
    text = re.sub(r"-{2,}", "-", text)
    return re.sub(r"'{2,}", "'", text)


def compare_key(value: str | None) -> str:
    """The comparison form: stored form with '-' and "'" read as spaces."""
    return _SPACES.sub(" ", trait(value).replace("-", " ").replace("'", " ")).strip()


def given_list(value: str | list[str] | None) -> list[str]:
    """Birth first names as a list of stored forms (a list, or a space-separated string)."""
    if not value:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        out.extend(n for n in trait(item).split(" ") if n)
    return out


def first_given(value: str | list[str] | None) -> str:
    names = given_list(value)
    return names[0] if names else ""


# --------------------------------------------------------------------------- phonetic

_VOWELS = set("AEIOUY")
_RULES_1 = [
    ("CHR", "KR"),
    ("CHL", "KL"),
    ("SCH", "9"),
    ("TCH", "9"),
    ("PH", "F"),
    ("CK", "K"),
    ("QU", "K"),
    ("Q", "K"),
    ("SH", "9"),
    ("CH", "9"),
    ("TH", "T"),
    ("GN", "N"),
    ("W", "V"),
]
_GU = re.compile(r"GU(?=[EIY])")
_GE = re.compile(r"GE(?=[AOU])")
_C_SOFT = re.compile(r"C(?=[EIY])")
_G_SOFT = re.compile(r"G(?=[EIY])")
_X_INNER = re.compile(r"X(?=.)")
# the nasal "an" and "on": not before a vowel, nor before the "in" sound (1) either
_NASAL_AN = re.compile(r"[AE][NM](?=[^AEIOUYNM1]|$)")
_NASAL_IN = re.compile(r"(?:AI|EI|U|I)N(?=[^AEIOUYNM]|$)")
_NASAL_ON = re.compile(r"O[NM](?=[^AEIOUYNM1]|$)")
_FINAL_ER = re.compile(r"E[RZ]$")
_EBRE_END = re.compile(r"EB(?=RES?$)")  # LEFEBRE: the silent B of LEFEBVRE, V left out
_SILENT_S = re.compile(r"(?<=[AEIOU])S(?=N)")  # DUCHESNE = DUCHENE, BESNARD = BENARD
_C_OIS = re.compile(r"C(?=OIS)")  # FRANCOIS: a cedilla lost by the stored form
_UE = re.compile(r"UE(?=[^AEIOU])")  # MUELLER = MULLER (German UE for U umlaut)


def _phonetic_word(value: str | None) -> str:
    """The comparison form without spaces, with what needs the raw value or word ends:
    ``Ç`` is an S (the stored form turns it into a C, which would read as K), and a final
    ``-EBRE(S)`` of a word is ``-EVRE`` (LEFEBRE for LEFEBVRE/LEFEVRE)."""
    if not value:
        return ""
    value = unicodedata.normalize("NFC", value).replace("ç", "s").replace("Ç", "S")
    return "".join(_EBRE_END.sub("EV", w) for w in compare_key(value).split(" "))


@lru_cache(maxsize=1 << 15)
def phonetic(value: str | None) -> str:
    """French phonetic key of a name (see module doc); '' for an empty name.

    Cached: matching asks for the keys of the same names over and over (first names
    above all), and a key costs some 30 µs of regular expressions."""
    word = _phonetic_word(value)
    if not word:
        return ""
    for old, new in _RULES_1:
        word = word.replace(old, new)
    word = _SILENT_S.sub("", word)
    word = _GU.sub("G", word)
    word = _GE.sub("J", word)
    word = _X_INNER.sub("KS", word)
    word = word.replace("H", "")
    word = _C_OIS.sub("S", word)
    word = _C_SOFT.sub("S", word).replace("C", "K")
    word = _G_SOFT.sub("J", word)
    word = word.replace("Y", "I").replace("Z", "S")
    word = word.replace("EAU", "O").replace("AU", "O").replace("OU", "U").replace("OI", "A")
    word = _UE.sub("U", word)
    word = _FINAL_ER.sub("E", word)
    word = _NASAL_IN.sub("1", word)  # the "in" sound, before AI/EI lose their I
    word = word.replace("AI", "E").replace("EI", "E")
    word = _NASAL_AN.sub("A", word)
    word = _NASAL_ON.sub("O", word)
    word = word.replace("BV", "V")
    while len(word) > 2 and word[-1] in "ESTDX":
        word = word[:-1]
    out = []
    for ch in word:
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


# --------------------------------------------------------------------------- similarity


def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, up to 4 characters)."""
    if a == b:
        return 1.0 if a else 0.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(la, lb) // 2 - 1
    a_hit = [False] * la
    b_hit = [False] * lb
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(lb, i + window + 1)):
            if not b_hit[j] and b[j] == ch:
                a_hit[i] = b_hit[j] = True
                matches += 1
                break
    if not matches:
        return 0.0
    transpositions = 0
    j = 0
    for i in range(la):
        if a_hit[i]:
            while not b_hit[j]:
                j += 1
            if a[i] != b[j]:
                transpositions += 1
            j += 1
    m = float(matches)
    jaro = (m / la + m / lb + (m - transpositions / 2) / m) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)
