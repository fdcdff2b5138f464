"""An autoregressive policy: a small causal transformer that writes its response one token at a time.

The sequence is [prompt tokens, a separator, response tokens], and the response token t is predicted
from everything before it (the prompt, the separator and tokens 0..t-1), as a language model writes:

    positions   0 .. n-1          n       n+1 .. 2n-1
    tokens      p_0 .. p_{n-1}    SEP     r_0 .. r_{n-2}
    predicts                      r_0     r_1 .. r_{n-1}

So pi(response | prompt) = prod_t pi(r_t | prompt, r_<t), and log pi(response) is the sum of per-token
log-probs: the lesson's "an LM generation is a trajectory". Token and learned position embeddings,
pre-norm blocks of causal self-attention and a GELU MLP, no dropout.

Sampling writes all B x G sequences at once, a token per step. With the KV cache (the default) each
step runs the blocks on the newest token only, attending to the keys and values kept from the steps
before; the prompt and separator are run once per prompt and shared by its G responses. Without it,
each step runs the whole sequence so far again (the reference the cache is tested and benchmarked
against). Training uses one teacher-forced pass over the sampled responses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.out = nn.Linear(4 * d_model, d_model)

    def forward(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None = None,
                start: int = 0) -> torch.Tensor:
        """x: [N, T, d] at positions start..start+T-1. With a cache (keys, values: [N, H, L, d/H]),
        this call's keys and values are written into it at those positions and attention reads
        everything up to them; without one, T positions attend causally among themselves."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_heads, d // self.n_heads).permute(
            2, 0, 3, 1, 4)                                                         # 3 x [N, H, T, dh]
        if cache is None:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            keys, values = cache
            keys[:, :, start:start + t] = k
            values[:, :, start:start + t] = v
            # a single new token may see every cached position; a longer chunk (the prompt) is causal
            a = F.scaled_dot_product_attention(q, keys[:, :, :start + t], values[:, :, :start + t],
                                               is_causal=t > 1)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))

    def forward_grouped(self, prefix: torch.Tensor, suffix: torch.Tensor, mask: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """The same block over B prefixes [B, P, d] shared by G suffixes each [B*G, S, d]: the
        prefix attends causally to itself, each suffix to its prefix and causally to itself
        (mask: bool[S, P+S]). Equal to running the B*G whole sequences, for about half the work."""
        b, p, d = prefix.shape
        bg, t, _ = suffix.shape
        g, h, dh = bg // b, self.n_heads, d // self.n_heads
        qp, kp, vp = self.qkv(self.ln1(prefix)).view(b, p, 3, h, dh).permute(2, 0, 3, 1, 4)
        qs, ks, vs = self.qkv(self.ln1(suffix)).view(bg, t, 3, h, dh).permute(2, 0, 3, 1, 4)
        ap = F.scaled_dot_product_attention(qp, kp, vp, is_causal=True)
        keys = torch.cat([kp.repeat_interleave(g, dim=0), ks], dim=2)            # [B*G, H, P+S, dh]
        values = torch.cat([vp.repeat_interleave(g, dim=0), vs], dim=2)
        as_ = F.scaled_dot_product_attention(qs, keys, values, attn_mask=mask)
        prefix = prefix + self.proj(ap.transpose(1, 2).reshape(b, p, d))
        suffix = suffix + self.proj(as_.transpose(1, 2).reshape(bg, t, d))
        return (prefix + self.out(F.gelu(self.fc(self.ln2(prefix)))),
                suffix + self.out(F.gelu(self.fc(self.ln2(suffix)))))


class AutoregressiveSorter(nn.Module):
    autoregressive = True

    def __init__(self, vocab_size: int, d_model: int, n: int, n_layers: int, n_heads: int):
        super().__init__()
        self.n, self.vocab_size, self.sep = n, vocab_size, vocab_size   # the separator's token id
        self.tok = nn.Embedding(vocab_size + 1, d_model)
        self.pos = nn.Embedding(2 * n, d_model)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.blocks = nn.ModuleList(CausalBlock(d_model, n_heads) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        # The output layer is the token embedding itself (tied, as in GPT-2), plus a bias: the
        # logit of number v is h . e_v, so writing a number the prompt holds is easy (attention
        # brings its embedding along), and a number's output row learns whenever it is read too.
        self.head_bias = nn.Parameter(torch.zeros(vocab_size))

    # ------------------------------------------------------------------ teacher forcing
    def forward(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """Logits of every response token given the prompt and the tokens before it, in one pass:
        prompts int[B, n], responses int[B, G, n] -> float[B, G, n, V].

        The prompt and separator are the same for the G responses of a group, so they run once per
        prompt, and the responses attend to their keys and values (forward_full runs every whole
        sequence instead: the same numbers, the reference in the tests)."""
        b, g, n = responses.shape
        if n < 2:
            return self.forward_full(prompts, responses)
        sep = torch.full((b, 1), self.sep, dtype=prompts.dtype, device=prompts.device)
        prefix = self.tok(torch.cat([prompts, sep], dim=1)) + self.pos.weight[:n + 1]  # [B, n+1, d]
        suffix = (self.tok(responses[..., :-1].reshape(b * g, n - 1))
                  + self.pos.weight[n + 1:])                                           # [B*G, n-1, d]
        mask = self._grouped_mask(n, prompts.device)
        for block in self.blocks:
            prefix, suffix = block.forward_grouped(prefix, suffix, mask)
        # the separator's output predicts response token 0; each response token the next one
        last = prefix[:, -1:].repeat_interleave(g, dim=0)                              # [B*G, 1, d]
        return self._logits(torch.cat([last, suffix], dim=1)).view(b, g, n, -1)

    def _grouped_mask(self, n: int, device) -> torch.Tensor:
        if getattr(self, "_mask", None) is None or self._mask.device != torch.device(device):
            allowed = torch.ones(n - 1, 2 * n, dtype=torch.bool, device=device)
            allowed[:, n + 1:] = torch.ones(n - 1, n - 1, dtype=torch.bool, device=device).tril()
            self._mask = allowed
        return self._mask

    def forward_full(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """forward() without sharing the prompt: every whole sequence through the blocks."""
        b, g, n = responses.shape
        seq = torch.cat([prompts.unsqueeze(1).expand(b, g, n),
                         torch.full((b, g, 1), self.sep, dtype=prompts.dtype, device=prompts.device),
                         responses[..., :-1]], dim=-1).reshape(b * g, 2 * n)
        x = self.tok(seq) + self.pos.weight
        for block in self.blocks:
            x = block(x)
        return self._logits(x[:, n:]).view(b, g, n, -1)

    def log_probs(self, prompts, responses, temperature=1.0):
        return self.log_probs_all(prompts, responses, temperature)[0]

    def log_probs_all(self, prompts, responses, temperature=1.0):
        logp_all = torch.log_softmax(_scaled(self(prompts, responses), temperature), dim=-1)
        return logp_all.gather(-1, responses.unsqueeze(-1)).squeeze(-1), logp_all

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def sample(self, prompts, group_size, generator=None, temperature=1.0, use_cache=True):
        return self._generate(prompts, group_size, generator, temperature, use_cache)

    def sample_for_training(self, prompts, group_size, generator=None, temperature=1.0):
        # logp_old is what sampling recorded (same parameters); the first inner step needs the
        # teacher-forced pass anyway, for its gradient.
        responses, old_logp = self.sample(prompts, group_size, generator, temperature)
        logp, logp_all = self.log_probs_all(prompts, responses, temperature)
        return responses, old_logp, logp, logp_all

    @torch.no_grad()
    def greedy(self, prompts, use_cache=True):
        return self._generate(prompts, 1, None, 1.0, use_cache, greedy=True)[0][:, 0]

    def _generate(self, prompts, group_size, generator, temperature, use_cache, greedy=False):
        b, n = prompts.shape
        g = group_size
        sep = torch.full((b, 1), self.sep, dtype=prompts.dtype, device=prompts.device)
        prefix = torch.cat([prompts, sep], dim=1)                                   # [B, n+1]
        if use_cache:
            caches = [self._empty_cache(b, prompts.device) for _ in self.blocks]
            last = self._run(prefix, caches, 0)[:, -1]                              # [B, V]
            last = last.repeat_interleave(g, dim=0)                                 # [B*G, V]
            # the prompt's keys and values serve all G responses of its group
            caches = [(k.repeat_interleave(g, dim=0), v.repeat_interleave(g, dim=0)) for k, v in caches]
        else:
            seq = prefix.repeat_interleave(g, dim=0)                                # [B*G, n+1]
            last = self._run(seq, None, 0)[:, -1]
        tokens = torch.empty(b * g, n, dtype=torch.long, device=prompts.device)
        logp = torch.empty(b * g, n, device=prompts.device)
        for t in range(n):
            logp_t = torch.log_softmax(_scaled(last.float(), temperature), dim=-1)  # [B*G, V]
            if greedy:
                tok = logp_t.argmax(dim=-1, keepdim=True)
            else:
                tok = torch.multinomial(logp_t.exp(), 1, generator=generator)      # [B*G, 1]
            tokens[:, t:t + 1] = tok
            logp[:, t:t + 1] = logp_t.gather(-1, tok)
            if t == n - 1:
                break
            if use_cache:
                last = self._run(tok, caches, n + 1 + t)[:, -1]
            else:
                seq = torch.cat([seq, tok], dim=1)
                last = self._run(seq, None, 0)[:, -1]
        return tokens.view(b, g, n), logp.view(b, g, n)

    def _empty_cache(self, batch: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.tok.embedding_dim
        h = self.blocks[0].n_heads
        shape = (batch, h, 2 * self.n, d // h)
        return torch.empty(shape, device=device), torch.empty(shape, device=device)

    def _run(self, tokens: torch.Tensor, caches, start: int) -> torch.Tensor:
        """Logits [N, T, V] for tokens [N, T] at positions start..start+T-1."""
        x = self.tok(tokens) + self.pos.weight[start:start + tokens.shape[1]]
        for i, block in enumerate(self.blocks):
            x = block(x, caches[i] if caches is not None else None, start)
        return self._logits(x)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """Only numbers are ever written: the separator's embedding row is not an output."""
        return F.linear(self.norm(x), self.tok.weight[:self.vocab_size], self.head_bias)


def _scaled(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return logits if temperature == 1.0 else logits / temperature
