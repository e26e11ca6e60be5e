"""Model and family names as the audit counts them: spelling variants of one name are one name.

The rule (docs/guard.md, "How names are counted"), applied in this order:

1. Unicode NFKC: compatibility forms become plain ones (fullwidth ｇｐｔ, ligatures, superscripts,
   the no-break space).
2. Invisible characters (Unicode format characters: zero-width space and joiners, BOM, soft
   hyphen) are removed.
3. Look-alike letters (``CONFUSABLES``: the Cyrillic and Greek letters that are drawn like Latin
   ones, e.g. Cyrillic "а" for "a") become the Latin letter; every dash (Unicode category Pd)
   becomes "-".
4. Case folding (``str.casefold``).
5. Whitespace: trimmed at both ends, inner runs become one space.

So "GPT-4", "gpt-4 ", "ｇｐｔ－４" and "gрt-4" (Cyrillic р) all count as "gpt-4". The map is
small on purpose: it covers the letters an accidental or deliberate look-alike spelling of a
model name uses, not all of Unicode TR39's confusables (which also equates "rn" with "m", and
would merge names that differ).
"""

from __future__ import annotations

import re
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

# Cyrillic and Greek letters drawn like Latin ones -> the Latin letter (lowercase and capital).
CONFUSABLES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "һ": "h", "ӏ": "l",
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ї": "I", "Ј": "J", "Ԛ": "Q", "Ԝ": "W", "Һ": "H", "Ӏ": "I",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x", "γ": "y",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Latin letters of other alphabets' shapes
    "ɡ": "g", "ı": "i", "ȷ": "j",
})
_SPACES = re.compile(r"\s+")


def canonical_name(name: str) -> str:
    """The name as the audit counts it (the module's rule)."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join("-" if unicodedata.category(c) == "Pd" else c for c in text
                   if unicodedata.category(c) != "Cf")
    text = text.translate(CONFUSABLES).casefold()
    return _SPACES.sub(" ", text).strip()


def canonical_column(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, dict[str, list[str]]]:
    """(``column`` with every name canonical, canonical name -> the raw spellings merged into it,
    for names that had more than one). Each distinct spelling is normalised once; a name that is
    empty after normalisation becomes null (no name). Columnar: the rows are remapped by index."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    encoded = pc.dictionary_encode(column)
    raw = encoded.dictionary.to_pylist()
    canonical = [canonical_name(name) or None for name in raw]
    spellings: dict[str, list[str]] = {}
    for spelling, name in zip(raw, canonical):
        if name is not None:
            spellings.setdefault(name, []).append(spelling)
    merged = {name: sorted(found) for name, found in sorted(spellings.items()) if len(found) > 1}
    if canonical == raw:  # every name already canonical (the usual case): the column as it is
        return column, merged
    return pc.take(pa.array(canonical, pa.string()), encoded.indices), merged
