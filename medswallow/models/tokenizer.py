"""The o200k_harmony tokenizer, offline: exact token counts everywhere, and an HF tokenizer for models.

The vocabulary comes from the ``openai_harmony`` package (a dependency of vLLM and of the [train]/[corpus]
extras), which embeds it; ``tiktoken.get_encoding("o200k_harmony")`` alone would try to download it.
Ids are identical to the hub tokenizer of gpt-oss (201,088 ids; specials from 199,998).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medswallow.errors import require

if TYPE_CHECKING:  # pragma: no cover
    import tiktoken

VOCAB_SIZE = 201088
N_ORDINARY = 199998

# o200k's pre-tokenisation pattern (tiktoken_ext/openai_public.py, o200k_base).
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

SPECIAL_TOKENS: dict[str, int] = {
    "<|startoftext|>": 199998,
    "<|endoftext|>": 199999,
    "<|reserved_200000|>": 200000,
    "<|reserved_200001|>": 200001,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|reserved_200004|>": 200004,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|reserved_200009|>": 200009,
    "<|reserved_200010|>": 200010,
    "<|reserved_200011|>": 200011,
    "<|call|>": 200012,
} | {f"<|reserved_{i}|>": i for i in range(200013, VOCAB_SIZE)}


@functools.lru_cache(maxsize=1)
def harmony_encoding() -> Any:
    """The ``openai_harmony`` HarmonyEncoding for gpt-oss (render/parse conversations)."""
    oh = require("openai_harmony", "corpus")
    return oh.load_harmony_encoding(oh.HarmonyEncodingName.HARMONY_GPT_OSS)


@functools.lru_cache(maxsize=1)
def mergeable_ranks() -> dict[bytes, int]:
    """Byte sequence -> id for the 199,998 ordinary tokens, read from the embedded vocabulary."""
    inner = harmony_encoding()._inner
    return {bytes(inner.decode_bytes([i])): i for i in range(N_ORDINARY)}


@functools.lru_cache(maxsize=1)
def get_encoding() -> tiktoken.Encoding:
    """A ``tiktoken.Encoding`` for o200k_harmony built offline (fast, thread-safe, picklable by name)."""
    tk = require("tiktoken", "corpus")
    return tk.Encoding(
        name="o200k_harmony",
        pat_str=O200K_PATTERN,
        mergeable_ranks=mergeable_ranks(),
        special_tokens=SPECIAL_TOKENS,
    )


def count_tokens(text: str) -> int:
    """Exact o200k_harmony token count of plain text (special-token strings count as ordinary text)."""
    return len(get_encoding().encode_ordinary(text))


def count_tokens_batch(texts: list[str], num_threads: int = 1) -> list[int]:
    enc = get_encoding()
    return [len(ids) for ids in enc.encode_ordinary_batch(texts, num_threads=num_threads)]


def write_tiktoken_file(path: str | Path) -> Path:
    """Write the vocabulary as a ``.tiktoken`` file (base64 token, space, rank per line)."""
    import base64

    p = Path(path)
    with p.open("w", encoding="ascii") as f:
        for tok, rank in sorted(mergeable_ranks().items(), key=lambda kv: kv[1]):
            f.write(f"{base64.b64encode(tok).decode()} {rank}\n")
    return p


def chat_template() -> str:
    """The gpt-oss chat template (the hub's, byte for byte, as TRL ships it)."""
    from importlib import resources

    try:
        return resources.files("trl").joinpath("chat_templates/gptoss.jinja").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return resources.files("medswallow.models").joinpath("gptoss.jinja").read_text(encoding="utf-8")


def build_hf_tokenizer(out_dir: str | Path | None = None) -> Any:
    """Build a ``PreTrainedTokenizerFast`` with o200k_harmony ids and the gpt-oss chat template.

    Saved with ``save_pretrained`` it loads with ``AutoTokenizer`` and in vLLM, offline.
    """
    import tempfile

    require("transformers", "train")
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = write_tiktoken_file(Path(tmp) / "o200k_harmony.tiktoken")
        specials = sorted(SPECIAL_TOKENS, key=SPECIAL_TOKENS.__getitem__)
        converter = TikTokenConverter(vocab_file=str(vocab_file), pattern=O200K_PATTERN, extra_special_tokens=specials)
        backend = converter.converted()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|startoftext|>",
        eos_token="<|return|>",
        pad_token="<|endoftext|>",
        model_max_length=131072,
        clean_up_tokenization_spaces=False,
    )
    tok.chat_template = chat_template()
    if out_dir is not None:
        tok.save_pretrained(str(out_dir))
    return tok
