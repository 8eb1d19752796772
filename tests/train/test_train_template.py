"""The chat-template check: assistant-only loss needs {% generation %} markers around exactly the assistant turn."""

from __future__ import annotations

import pytest

from medswallow.errors import UserError

CHATML_NO_MARKERS = (
    "{% for m in messages %}<|start|>{{ m.role }}<|message|>{{ m.content }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|start|>assistant{% endif %}"
)
MARKERS_AROUND_EVERYTHING = (
    "{% generation %}{% for m in messages %}<|start|>{{ m.role }}<|message|>{{ m.content }}<|end|>{% endfor %}"
    "{% endgeneration %}"
)


@pytest.fixture(scope="module")
def loaded_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture
def tokenizer(loaded_tokenizer):
    original = loaded_tokenizer.chat_template
    yield loaded_tokenizer
    loaded_tokenizer.chat_template = original


def test_the_gpt_oss_template_gets_trls_marked_copy(tokenizer):
    from trl.chat_template_utils import has_generation_markers

    from medswallow.train.sft import training_chat_template

    assert not has_generation_markers(tokenizer.chat_template)
    template = training_chat_template(tokenizer, assistant_only_loss=True)
    assert template is not None and has_generation_markers(template)
    assert training_chat_template(tokenizer, assistant_only_loss=False) is None


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (CHATML_NO_MARKERS, "needs a chat template with {% generation %} markers"),
        (MARKERS_AROUND_EVERYTHING, "do not enclose exactly the assistant turn"),
    ],
)
def test_templates_that_cannot_mark_assistant_turns_are_refused(tokenizer, template, expected):
    from medswallow.train.sft import training_chat_template

    tokenizer.chat_template = template
    with pytest.raises(UserError, match=expected.replace("{", r"\{").replace("}", r"\}")):
        training_chat_template(tokenizer, assistant_only_loss=True)


def test_cli_dry_run_refuses_a_template_without_markers(tmp_path, tiny_model_dir, cli):
    from .train_fixtures import sft_recipe, write_chat, write_recipe

    template = tmp_path / "plain.jinja"
    template.write_text(CHATML_NO_MARKERS)
    recipe = sft_recipe(tiny_model_dir, write_chat(tmp_path / "chat.jsonl", n=2), tmp_path / "out")
    recipe["model"]["chat_template"] = str(template)
    res = cli("train", str(write_recipe(tmp_path / "r.yaml", recipe)), "--dry-run")
    assert res.returncode == 2, res.stderr
    assert "{% generation %}" in res.stderr and "assistant_only_loss: false" in res.stderr
    assert "Traceback" not in res.stderr
