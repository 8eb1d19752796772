"""What a reader sees: format characters listed, and the display order that bidi controls produce."""

from __future__ import annotations

import pytest

from medswallow.review.visible import displayed_text, format_chars, strip_format

RLO, LRO, PDF, RLE, RLI, FSI, PDI = "\u202e", "\u202d", "\u202c", "\u202b", "\u2067", "\u2068", "\u2069"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        (f"1日{RLO}05{PDF}mg", "1日50mg"),
        (f"Take {RLO}005{PDF} mg", "Take 500 mg"),
        (f"1日{RLO}0.5{PDF} g", "1日5.0 g"),
        (f"Take {RLI}005 mg{PDI} daily", "Take mg 005 daily"),  # runs keep their order, the runs swap
        (f"Take {RLE}2.5 mg{PDF}", "Take mg 2.5"),  # a decimal point between digits stays in the number
        (f"{RLO}ab{LRO}cd{PDF}ef{PDF}", "fecdba"),  # a nested override stays whole
        (f"x{FSI}abc{PDI}", "xabc"),  # first strong character is left-to-right
        (f"{RLO}12\n34", "21\n34"),  # a paragraph end closes every control
        (f"{RLO}12{PDI}34", "4321"),  # a PDI without an isolate closes nothing
        ("ロ\u200bキ\u200dソ\ufeff", "ロキソ"),  # zero-width characters are not drawn
        ("plain 500 mg", "plain 500 mg"),
    ],
)
def test_displayed_text(stored, shown):
    assert displayed_text(stored) == shown


def test_format_chars_lists_offsets_and_names():
    text = f"a{RLO}b\u200bc\u00add"
    found = format_chars(text)
    assert [(f.offset, f.name, f.code, f.bidi) for f in found] == [
        (1, "RLO", "U+202E", True), (3, "ZWSP", "U+200B", False), (5, "SHY", "U+00AD", False),
    ]
    assert strip_format(text) == "abcd"
    assert format_chars("\U000e0041")[0].name == "TAG LATIN CAPITAL LETTER A"  # any Cf, named by Unicode
