"""A tiny randomly initialised language model for the text sorting task, built offline.

For trying the TRL integration (and testing it) without downloading a model: a word-level tokenizer
over the prompt's words and the numbers 0..vocab_size-1, and a 2-layer Qwen2 causal LM sized to it.
It learns nothing useful in a few steps; it exists so every part of a real GRPOTrainer run works on a
laptop CPU in seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

from grpotui.integrations.sorting import PROMPT_TEMPLATE

SPECIAL = ["<pad>", "<eos>", "<unk>"]


def tiny_sorting_model(folder: str | Path, vocab_size: int = 10, hidden_size: int = 64,
                       layers: int = 2, seed: int = 0):
    """(model, tokenizer): a Qwen2ForCausalLM and a PreTrainedTokenizerFast, both saved to `folder`
    and the model's name_or_path pointing there (GRPOTrainer loads its reference model from it when
    beta > 0)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    words = sorted(set(re.findall(r"\w+|[^\w\s]+", PROMPT_TEMPLATE.replace("{numbers}", ""))))
    vocab = SPECIAL + words + [str(i) for i in range(vocab_size)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                        unk_token="<unk>", padding_side="left")
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(vocab), hidden_size=hidden_size,
                         intermediate_size=2 * hidden_size, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, pad_token_id=0,
                         eos_token_id=1, bos_token_id=1, max_position_embeddings=256)
    model = Qwen2ForCausalLM(config)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model.config.name_or_path = str(folder)
    return model, tokenizer
