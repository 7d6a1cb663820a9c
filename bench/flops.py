"""Model FLOPs of a training step, and the matmul peak they are compared with, for the benchmarks' utilisation
columns (achieved model FLOP/s / the peak measured in the same run, in the same precision).

A step's model FLOPs are the matmuls its tokens need, padding excluded: 2 x the decoder blocks' linear weights
per token, causal attention (2 x hidden x L^2 per layer and sequence: QK^T and AV over the lower triangle), and the
LM head only where a loss is taken. The backward pass doubles that when the base weights are frozen (LoRA: input
gradients, no weight gradients) and triples it for full fine-tuning; LoRA's own matmuls are left out (under 2%).
"""

import time

import torch


def matmul_peak(dtype: torch.dtype, device: str = "cpu", size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of the best of `repeats` square matmuls of `size` in `dtype`: what this machine's kernels reach."""
    a, b = (torch.randn(size, size, dtype=dtype, device=device) for _ in range(2))
    best = float("inf")
    for _ in range(repeats + 1):  # the first call warms up
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def block_weights(config) -> int:
    """Weights of the decoder blocks' linear layers (embeddings, LM head, norms excluded), counted on a meta copy."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    head = model.get_output_embeddings()
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head]
    return sum(m.weight.numel() for m in linears)


def forward_flops(config, lengths: list[int], head_tokens: int, weights: int | None = None) -> float:
    """Matmul FLOPs of one forward pass over sequences of `lengths` (non-padding) tokens, with the LM head on
    `head_tokens` of them (0 for a reward model, whose score head is one column)."""
    weights = block_weights(config) if weights is None else weights
    text = config.get_text_config()
    attention = 2 * text.num_hidden_layers * text.hidden_size * sum(n * n for n in lengths)
    return 2 * weights * sum(lengths) + attention + 2 * text.hidden_size * text.vocab_size * head_tokens
