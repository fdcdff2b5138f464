"""Policies: map prompts int[B, n] to logits float[B, n, V], one distribution per response position.

Both are non-autoregressive, like the lecture's model: the response positions are sampled
independently given the prompt. So one forward pass per prompt serves all G responses of its group.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LectureModel(nn.Module):
    """The lecture's model, exactly: tied embedding E (V x d), per-position encode matrices summed
    into one vector, per-position decode matrices, logits = decoded @ E^T."""

    def __init__(self, vocab_size: int, d_model: int, prompt_length: int, response_length: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.encode_weights = nn.Parameter(
            torch.randn(prompt_length, d_model, d_model) / math.sqrt(d_model))
        self.decode_weights = nn.Parameter(
            torch.randn(response_length, d_model, d_model) / math.sqrt(d_model))

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        emb = self.embedding(prompts)                                          # [B, n, d]
        encoded = torch.einsum("bpi,pij->bj", emb, self.encode_weights)        # [B, d]
        decoded = torch.einsum("bj,pji->bpi", encoded, self.decode_weights)    # [B, n, d]
        return decoded @ self.embedding.weight.T                               # [B, n, V]


class SortTransformer(nn.Module):
    """A small transformer that can learn to sort prompts it never saw.

    The sequence is the n prompt tokens (token + position embeddings) followed by n learned output
    queries; full (non-causal) self-attention runs over all 2n positions, and the output queries are
    read out as the logits of the n response positions.
    """

    def __init__(self, vocab_size: int, d_model: int, n: int, n_layers: int, n_heads: int):
        super().__init__()
        self.n = n
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.randn(2 * n, d_model) * 0.02)
        self.queries = nn.Parameter(torch.randn(n, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=4 * d_model,
                                           dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        b = prompts.shape[0]
        x = torch.cat([self.tok(prompts), self.queries.expand(b, -1, -1)], dim=1) + self.pos
        x = self.blocks(x)
        return self.head(self.norm(x[:, self.n:]))


def build_policy(cfg, seed: int) -> nn.Module:
    """The policy named by cfg.policy, initialised from `seed` only (not the global RNG's state)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if cfg.policy == "lecture":
            return LectureModel(cfg.vocab_size, cfg.d_model, cfg.n, cfg.n)
        return SortTransformer(cfg.vocab_size, cfg.d_model, cfg.n, cfg.n_layers, cfg.n_heads)
