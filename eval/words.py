"""Words of English and Chinese text: the tokens ROUGE-L scores, and the lengths the reports measure.

rouge-score's own tokenizer keeps only [a-z0-9] and so scores any Chinese text as empty; this one also keeps
each CJK character as a token, and gives exactly the same tokens as rouge-score's on text without CJK.
`length_in_tokens` is the length the reports use (output lengths, answer-length bias) on the same principle.
"""

import re

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"  # kana, CJK ideographs, hangul
_TOKEN = re.compile(rf"[{_CJK}]|[a-z0-9]+")
# a CJK character, or a run of anything else but spaces and CJK punctuation (full-width forms included)
_LENGTH_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}\u3000-\u303f\uff00-\uffef]+")


class MultilingualTokenizer:
    def tokenize(self, text: str) -> list[str]:
        return _TOKEN.findall(text.lower())


def length_in_tokens(text: str) -> int:
    """Whitespace-separated words, with each CJK character a word: the paper's `len(output.split())` on English,
    and a length that means something on Chinese (where split() sees whole sentences as one word)."""
    return len(_LENGTH_TOKEN.findall(text))
