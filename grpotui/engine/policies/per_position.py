"""Per-position policies: map prompts int[B, n] to logits float[B, n, V], one distribution per
response position.

Both are non-autoregressive, like the lecture's model: the response positions are sampled
independently given the prompt. So one forward pass per prompt serves all G responses of its group,
and the first inner step of a rollout reuses the pass that sampled.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from grpotui.engine import grpo


def _scaled(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return logits if temperature == 1.0 else logits / temperature


class PerPositionPolicy(nn.Module):
    """The policy API (see policies/__init__.py) for a module whose forward gives logits [B, n, V]."""

    autoregressive = False

    def sample(self, prompts, group_size, generator=None, temperature=1.0):
        with torch.no_grad():
            logits = _scaled(self(prompts), temperature)
            responses = grpo.sample_responses(logits, group_size, generator)
            return responses, grpo.response_log_probs(logits, responses)

    def log_probs(self, prompts, responses, temperature=1.0):
        return self.log_probs_all(prompts, responses, temperature)[0]

    def log_probs_all(self, prompts, responses, temperature=1.0):
        logp_all = torch.log_softmax(_scaled(self(prompts), temperature), dim=-1)           # [B, n, V]
        return grpo.gathered_log_probs(logp_all, responses), logp_all

    def sample_for_training(self, prompts, group_size, generator=None, temperature=1.0):
        # One forward pass: sample from its logits, and keep them (with gradient) for the first step.
        logp_all = torch.log_softmax(_scaled(self(prompts), temperature), dim=-1)           # [B, n, V]
        responses = grpo.sample_responses(logp_all, group_size, generator)           # [B, G, n]
        logp = grpo.gathered_log_probs(logp_all, responses)
        return responses, logp.detach(), logp, logp_all

    def greedy(self, prompts):
        return self(prompts).argmax(dim=-1)


class LectureModel(PerPositionPolicy):
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
        """The lecture writes this as three einsums:
            encoded = einsum(emb, encode_weights, "batch pos dim1, pos dim1 dim2 -> batch dim2")
            decoded = einsum(encoded, decode_weights, "batch dim2, pos dim2 dim1 -> batch pos dim1")
            logits  = einsum(decoded, embedding.weight, "batch pos dim1, vocab dim1 -> batch pos vocab")
        Written as matrix products instead, the forward pass costs half as much at the lecture's
        size, where op overhead is the whole cost; the numbers are the same (tests/unit/test_policy.py
        checks values and gradients against the einsums)."""
        b = prompts.shape[0]
        n_in, d, _ = self.encode_weights.shape
        # encoded[b] = sum_p emb[b, p] @ encode_weights[p]: one product over the (pos, dim1) axes
        emb = self.embedding(prompts).reshape(b, n_in * d)                              # [B, n*d]
        encoded = emb @ self.encode_weights.reshape(n_in * d, d)                        # [B, d]
        # decoded[b, p] = encoded[b] @ decode_weights[p]: a matmul broadcast over positions
        decoded = torch.matmul(encoded, self.decode_weights).transpose(0, 1)            # [B, n, d]
        return decoded @ self.embedding.weight.T                                        # [B, n, V]


class SortTransformer(PerPositionPolicy):
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

