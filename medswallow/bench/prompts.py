"""Prompt styles: how a Sample becomes chat messages (generated answers) or a context (likelihood).

Templates use ``{field}`` placeholders; rendering fails loudly on any field a template names that the
sample cannot fill, so a typo in a suite's custom template never reaches the model as a literal ``{qestion}``.
Fields: ``question``, ``choices`` (one ``label: text`` line per choice), ``labels`` (``a,b,c,d,e``),
``n`` (how many answers to pick) and ``system``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from medswallow.errors import UserError, did_you_mean
from medswallow.records import Sample

FIELDS = ("question", "choices", "labels", "n", "system")
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


@dataclass(frozen=True)
class PromptStyle:
    """A chat prompt (system + user) for generated answers.

    ``choice_line`` formats one choice; ``numeric_user`` is used for items without choices (IgakuQA's
    numeric-entry questions).
    """

    name: str
    user: str
    system: str = "{system}"
    choice_line: str = "{label}: {text}"
    numeric_user: str = "問題: {question}\n数値で答えてください。\n答え:"


# IgakuQA / YakugakuQA originals: the answer count is given, the model answers after "答え:".
EXAM = PromptStyle(
    name="exam",
    user="問題: {question}\n{choices}\n必ず{labels}の中からちょうど{n}個選んでください。\n答え:",
)
# Swallow's instruct harness (JMMLU): zero-shot reasoning, last line "回答: X"; gpt-oss reasons in its
# analysis channel, so the final channel is asked for the answer line only.
COT = PromptStyle(
    name="cot",
    system="",
    choice_line="{label}. {text}",
    user=(
        "以下の問題に答えてください。\n\n{question}\n\n{choices}\n\n"
        "よく考えてから、最後の行に「回答: X」の形式で答えてください（Xは{labels}から{n}個）。"
    ),
    numeric_user="以下の問題に答えてください。\n\n{question}\n\n最後の行に「回答: 数値」の形式で答えてください。",
)
STYLES = {s.name: s for s in (EXAM, COT)}


@dataclass(frozen=True)
class LikelihoodStyle:
    """A raw-text context whose continuation is each option's text (JMedBench's scoring).

    ``context`` is med-eval's template string, verbatim, with its own fields ``{question}`` and
    ``{options}`` (``A. text`` lines joined by newlines, letters A, B, C... whatever the task's labels).
    """

    name: str
    context: str


# nii-nlp/med-eval templates/jmedbench.py @ 9e030138ab061e24c3d4d413ee4aa77de37735de,
# TASK_SPECIFIC_TEMPLATE_SET["MCQA"], transcribed verbatim (names as there).
LIKELIHOOD_STYLES = {
    s.name: s
    for s in (
        LikelihoodStyle("Minimal", "{question}\n"),
        LikelihoodStyle("Standard", "質問：{question}\n{options}\n答え："),
        LikelihoodStyle("English-centric", "Question: {question}\n{options}\nAnswer: "),
        LikelihoodStyle(
            "Instructed",
            "あなたは医学博士です。基礎科学、臨床科学、医学知識、健康、病気、患者ケア、治療法の基礎となるメカニズムについて理解した上で、以下の選択式問題に答えなさい。"
            "以下の選択肢から正しいものを1つ選びなさい。医療ガイドラインに記載されている、現在行われている標準的な治療法に基づいて答えなさい。\n"
            "質問：{question}\n選択肢：\n{options}\n答え：",
        ),
    )
}
_OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _style_key(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def placeholders(template: str) -> list[str]:
    """The ``{field}`` names a template uses (doubled braces ``{{x}}`` are literal text, not fields)."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


def check_template(template: str, where: str, allowed: tuple[str, ...] = FIELDS) -> None:
    """Raise a UserError naming ``where`` for any field the template uses that prompts cannot fill."""
    for name in placeholders(template):
        if name not in allowed:
            raise UserError(f"{where}: unknown prompt field '{{{name}}}'{did_you_mean(name, allowed)}")
    try:
        list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UserError(
            f"{where}: malformed template ({exc}); write literal braces as {{{{ and }}}}"
        ) from None


def render(template: str, values: dict[str, object], where: str = "prompt") -> str:
    """Fill a template; a missing field is an error, never left in the text."""
    try:
        return template.format_map(values)
    except KeyError as exc:
        raise UserError(
            f"{where}: prompt field {exc} has no value{did_you_mean(str(exc).strip(chr(39)), list(values))}"
        ) from None
    except (ValueError, IndexError) as exc:
        raise UserError(f"{where}: malformed template ({exc})") from None


FIGURE_CHOICES_LINE = "（選択肢は図で示されていますが、図は含まれていません）"


def n_answers(sample: Sample) -> int:
    """How many answers the prompt asks for: the item's rule ("any 2 of these", "a or d"), else the gold
    size, else what the stem says ("2つ選べ"), else 1."""
    if "n_answers" in sample.meta:
        return int(sample.meta["n_answers"])
    if sample.gold and not sample.voided:
        return len(sample.gold)
    return int(sample.meta.get("n_select", 1))


def _values(sample: Sample, choice_line: str, system: str) -> dict[str, object]:
    if sample.meta.get("figure_choices"):
        lines = FIGURE_CHOICES_LINE
    else:
        lines = "\n".join(
            render(choice_line, {"label": lab, "text": c})
            for lab, c in zip(sample.labels, sample.choices, strict=True)
        )
    n = n_answers(sample)
    return {
        "question": sample.question,
        "choices": lines,
        "labels": ",".join(sample.labels),
        "n": n,
        "system": system,
    }


def chat_messages(sample: Sample, style: PromptStyle, system: str = "") -> list[dict[str, str]]:
    """The chat messages for one sample: an optional system message and the user turn."""
    values = _values(sample, style.choice_line, system)
    user_t = style.user if sample.labels else style.numeric_user
    where = f"prompt style '{style.name}'"
    messages = []
    sys_text = render(style.system, values, where).strip()
    if sys_text:
        messages.append({"role": "system", "content": sys_text})
    messages.append({"role": "user", "content": render(user_t, values, where)})
    return messages


def likelihood_context(sample: Sample, style: LikelihoodStyle) -> str:
    """med-eval's ``UnifiedTemplate.instantiate_template`` for an MCQA sample (options lettered A, B, ...)."""
    options = "\n".join(f"{_OPTION_LETTERS[i]}. {c}" for i, c in enumerate(sample.choices))
    return style.context.format(question=sample.question, options=options)


def get_style(name: str) -> PromptStyle:
    if name not in STYLES:
        raise UserError(f"unknown prompt style '{name}'{did_you_mean(name, list(STYLES))}")
    return STYLES[name]


def get_likelihood_style(name: str) -> LikelihoodStyle:
    """A JMedBench template by its med-eval name (``Standard``; case, ``_`` and ``-`` do not matter)."""
    by_key = {_style_key(k): v for k, v in LIKELIHOOD_STYLES.items()}
    if _style_key(name) not in by_key:
        raise UserError(f"unknown likelihood style '{name}'{did_you_mean(name, list(LIKELIHOOD_STYLES))}")
    return by_key[_style_key(name)]
