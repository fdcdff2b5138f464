"""An autoregressive policy: a small causal transformer that writes its response one token at a time.

The sequence is [prompt tokens, a separator, response tokens], and the response token t is predicted
from everything before it (the prompt, the separator and tokens 0..t-1), as a language model writes:

    positions   0 .. n-1          n       n+1 .. 2n-1
    tokens      p_0 .. p_{n-1}    SEP     r_0 .. r_{n-2}
    predicts                      r_0     r_1 .. r_{n-1}

So pi(response | prompt) = prod_t pi(r_t | prompt, r_<t), and log pi(response) is the sum of per-token
log-probs: the lesson's "an LM generation is a trajectory". Token and learned position embeddings,
pre-norm blocks of causal self-attention and a GELU MLP, no dropout.

Variable length (completion_length given; grpotui.engine.varlen): prompts are left-padded with PAD
and responses have up to completion_length tokens, the last one an EOS. The output layer then has
one more row, EOS; a response's tokens after its EOS are PAD (not sampled; log-prob 0), and sampling
stops as soon as every response has ended. The fixed task (no completion_length) is the model as it
was: the same parameters, drawn in the same order.

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

    def __init__(self, vocab_size: int, d_model: int, n: int, n_layers: int, n_heads: int,
                 completion_length: int | None = None):
        super().__init__()
        self.n, self.vocab_size = n, vocab_size
        self.variable = completion_length is not None
        self.length = completion_length if self.variable else n      # response tokens, L
        if self.variable:       # numbers, EOS, PAD, the separator; the outputs: numbers and EOS
            self.eos, self.pad, self.sep = vocab_size, vocab_size + 1, vocab_size + 2
            self.outputs = vocab_size + 1
        else:
            self.eos = self.pad = None
            self.sep, self.outputs = vocab_size, vocab_size          # the separator's token id
        self.tok = nn.Embedding(self.sep + 1, d_model)
        self.pos = nn.Embedding(n + self.length, d_model)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.blocks = nn.ModuleList(CausalBlock(d_model, n_heads) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        # The output layer is the token embedding itself (tied, as in GPT-2), plus a bias: the
        # logit of number v is h . e_v, so writing a number the prompt holds is easy (attention
        # brings its embedding along), and a number's output row learns whenever it is read too.
        self.head_bias = nn.Parameter(torch.zeros(self.outputs))

    # ------------------------------------------------------------------ teacher forcing
    def forward(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """Logits of every response token given the prompt and the tokens before it, in one pass:
        prompts int[B, n], responses int[B, G, n] -> float[B, G, n, V].

        The prompt and separator are the same for the G responses of a group, so they run once per
        prompt, and the responses attend to their keys and values (forward_full runs every whole
        sequence instead: the same numbers, the reference in the tests)."""
        b, g, length = responses.shape
        n = prompts.shape[1]
        if length < 2:
            return self.forward_full(prompts, responses)
        sep = torch.full((b, 1), self.sep, dtype=prompts.dtype, device=prompts.device)
        prefix = self.tok(torch.cat([prompts, sep], dim=1)) + self.pos.weight[:n + 1]  # [B, n+1, d]
        suffix = (self.tok(responses[..., :-1].reshape(b * g, length - 1))
                  + self.pos.weight[n + 1:n + length])                             # [B*G, L-1, d]
        mask = self._grouped_mask(n, length, prompts.device)
        for block in self.blocks:
            prefix, suffix = block.forward_grouped(prefix, suffix, mask)
        # the separator's output predicts response token 0; each response token the next one
        last = prefix[:, -1:].repeat_interleave(g, dim=0)                              # [B*G, 1, d]
        return self._logits(torch.cat([last, suffix], dim=1)).view(b, g, length, -1)

    def _grouped_mask(self, n: int, length: int, device) -> torch.Tensor:
        key = (n, length, torch.device(device))
        if getattr(self, "_mask_key", None) != key:
            allowed = torch.ones(length - 1, n + length, dtype=torch.bool, device=device)
            allowed[:, n + 1:] = torch.ones(length - 1, length - 1, dtype=torch.bool,
                                            device=device).tril()
            self._mask, self._mask_key = allowed, key
        return self._mask

    def forward_full(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """forward() without sharing the prompt: every whole sequence through the blocks."""
        b, g, length = responses.shape
        n = prompts.shape[1]
        seq = torch.cat([prompts.unsqueeze(1).expand(b, g, n),
                         torch.full((b, g, 1), self.sep, dtype=prompts.dtype, device=prompts.device),
                         responses[..., :-1]], dim=-1).reshape(b * g, n + length)
        x = self.tok(seq) + self.pos.weight[:n + length]
        for block in self.blocks:
            x = block(x)
        return self._logits(x[:, n:]).view(b, g, length, -1)

    def log_probs(self, prompts, responses, temperature=1.0):
        return self.log_probs_all(prompts, responses, temperature)[0]

    def log_probs_all(self, prompts, responses, temperature=1.0):
        logp_all = torch.log_softmax(_scaled(self(prompts, responses), temperature), dim=-1)
        # after a response's EOS come PADs, which are no output: read EOS's row there (masked)
        picked = responses if not self.variable else responses.clamp(max=self.eos)
        return logp_all.gather(-1, picked.unsqueeze(-1)).squeeze(-1), logp_all

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def sample(self, prompts, group_size, generator=None, temperature=1.0, use_cache=True,
               top_p=1.0, top_k=0):
        return self._generate(prompts, group_size, generator, temperature, use_cache,
                              top_p=top_p, top_k=top_k)

    def sample_for_training(self, prompts, group_size, generator=None, temperature=1.0,
                            top_p=1.0, top_k=0):
        # logp_old is what sampling recorded (same parameters); the first inner step needs the
        # teacher-forced pass anyway, for its gradient.
        responses, old_logp = self.sample(prompts, group_size, generator, temperature,
                                          top_p=top_p, top_k=top_k)
        logp, logp_all = self.log_probs_all(prompts, responses, temperature)
        return responses, old_logp, logp, logp_all

    @torch.no_grad()
    def greedy(self, prompts, use_cache=True):
        return self._generate(prompts, 1, None, 1.0, use_cache, greedy=True)[0][:, 0]

    def _generate(self, prompts, group_size, generator, temperature, use_cache, greedy=False,
                  top_p=1.0, top_k=0):
        """Write B x G responses of self.length tokens. top_p / top_k narrow what is drawn from;
        the log-probs recorded are the full (temperature-scaled) distribution's, as the
        teacher-forced pass computes them (TRL's convention)."""
        b, n = prompts.shape
        g = group_size
        length = self.length
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
        tokens = torch.empty(b * g, length, dtype=torch.long, device=prompts.device)
        logp = torch.empty(b * g, length, device=prompts.device)
        ended = torch.zeros(b * g, 1, dtype=torch.bool, device=prompts.device)
        for t in range(length):
            logp_t = torch.log_softmax(_scaled(last.float(), temperature), dim=-1)  # [B*G, V]
            if greedy:
                tok = logp_t.argmax(dim=-1, keepdim=True)
            else:
                tok = torch.multinomial(_nucleus(logp_t, top_p, top_k).exp(), 1,
                                        generator=generator)                       # [B*G, 1]
            step_logp = logp_t.gather(-1, tok)
            if self.variable:   # after its EOS a response holds PAD, log-prob 0 (masked out)
                tok = torch.where(ended, torch.full_like(tok, self.pad), tok)
                step_logp = torch.where(ended, torch.zeros_like(step_logp), step_logp)
                ended = ended | (tok == self.eos)
            tokens[:, t:t + 1] = tok
            logp[:, t:t + 1] = step_logp
            if t == length - 1:
                break
            if self.variable and bool(ended.all()):
                tokens[:, t + 1:] = self.pad
                logp[:, t + 1:] = 0.0
                break
            if use_cache:
                last = self._run(tok, caches, n + 1 + t)[:, -1]
            else:
                seq = torch.cat([seq, tok], dim=1)
                last = self._run(seq, None, 0)[:, -1]
        return tokens.view(b, g, length), logp.view(b, g, length)

    def _empty_cache(self, batch: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.tok.embedding_dim
        h = self.blocks[0].n_heads
        shape = (batch, h, self.n + self.length, d // h)
        return torch.empty(shape, device=device), torch.empty(shape, device=device)

    def _run(self, tokens: torch.Tensor, caches, start: int) -> torch.Tensor:
        """Logits [N, T, V] for tokens [N, T] at positions start..start+T-1."""
        x = self.tok(tokens) + self.pos.weight[start:start + tokens.shape[1]]
        for i, block in enumerate(self.blocks):
            x = block(x, caches[i] if caches is not None else None, start)
        return self._logits(x)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """Only numbers (and EOS) are ever written: PAD and the separator are no outputs."""
        return F.linear(self.norm(x), self.tok.weight[:self.outputs], self.head_bias)


def _nucleus(logp: torch.Tensor, top_p: float, top_k: int) -> torch.Tensor:
    """Log-probs [N, V] with the tokens outside the top_k likeliest, or outside the smallest set
    whose probability reaches top_p, set to -inf (the likeliest token always stays)."""
    if top_p >= 1.0 and top_k <= 0:
        return logp
    out = logp
    if 0 < top_k < logp.shape[-1]:
        kth = logp.topk(top_k, dim=-1).values[..., -1:]
        out = out.masked_fill(logp < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = out.sort(dim=-1, descending=True)
        before = ordered.exp().cumsum(dim=-1) - ordered.exp()     # mass of the likelier tokens
        drop = before >= top_p
        out = out.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return out


def _scaled(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return logits if temperature == 1.0 else logits / temperature
