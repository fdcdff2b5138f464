"""The lecture model's forward pass is written as matrix products; it must equal the lecture's einsums."""

import torch

from grpotui.engine.policies import LectureModel


def lecture_einsum_forward(model: LectureModel, prompts: torch.Tensor) -> torch.Tensor:
    emb = model.embedding(prompts)
    encoded = torch.einsum("bpi,pij->bj", emb, model.encode_weights)
    decoded = torch.einsum("bj,pji->bpi", encoded, model.decode_weights)
    return torch.einsum("bpi,vi->bpv", decoded, model.embedding.weight)


def test_forward_equals_the_lectures_einsums_values_and_gradients():
    torch.manual_seed(0)
    model = LectureModel(vocab_size=7, d_model=6, prompt_length=4, response_length=3)
    prompts = torch.randint(0, 7, (5, 4))
    weights = torch.randn(5, 3, 7)

    ours = model(prompts)
    (ours * weights).sum().backward()
    our_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    theirs = lecture_einsum_forward(model, prompts)
    (theirs * weights).sum().backward()

    assert ours.shape == (5, 3, 7)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    # float32 gradients summed in another order (the einsums' contraction order depends on the
    # CPU's kernels): equal to about 4e-5 relative on an AMD EPYC, so compare at 1e-4
    for mine, ref in zip(our_grads, (p.grad for p in model.parameters())):
        torch.testing.assert_close(mine, ref, rtol=1e-4, atol=1e-5)


def test_forward_on_the_lecture_prompts_is_deterministic_from_the_seed():
    torch.manual_seed(5)
    a = LectureModel(5, 10, 3, 3)
    torch.manual_seed(5)
    b = LectureModel(5, 10, 3, 3)
    prompts = torch.tensor([[1, 0, 2], [3, 2, 4], [1, 2, 3]])
    assert torch.equal(a(prompts), b(prompts))
