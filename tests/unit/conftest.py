"""Shared set-up for the unit tests."""

import torch

# The tensors here are tiny: one thread is fastest, and it keeps timings steady on a busy machine.
torch.set_num_threads(1)
