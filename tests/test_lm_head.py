"""The CPU LM head (gpt4llm.lm_head) computes what TRL's fused head computes: the same loss, per-token
log-probabilities, entropy, mean logit and top-1 flag, and the same gradients, on a batch with padding and a
masked prompt, at temperature 1 (SFT, DPO) and at a sampling temperature (GRPO, RLOO divide the logits by it)."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
from trl.trainer.utils import add_fused_lm_head

from gpt4llm.lm_head import _compact_forward


def outputs_and_gradients(model, batch):
    model.zero_grad()
    out = model(**batch, fused_lm_head=True)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return out, grads


@pytest.mark.parametrize(
    "num_items_in_batch, temperature", [(None, 1.0), (37, 1.0), (None, 0.7)], ids=["mean", "sum", "grpo-temperature"]
)
def test_compact_head_equals_trls(tiny_model_dir, num_items_in_batch, temperature):
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    add_fused_lm_head(base, temperature=temperature, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    input_ids = torch.randint(0, 1000, (3, 12))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 8:] = attention_mask[2, 5:] = 0  # right padding
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    labels[:, :4] = -100  # the prompt
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    if num_items_in_batch is not None:
        batch["num_items_in_batch"] = num_items_in_batch

    expected, expected_grads = outputs_and_gradients(model, batch)
    base.forward = _compact_forward(base.forward, temperature).__get__(base)
    actual, grads = outputs_and_gradients(model, batch)

    torch.testing.assert_close(actual.loss, expected.loss, atol=1e-5, rtol=1e-5)
    for field in ("log_probs", "entropy", "mean_logits"):
        torch.testing.assert_close(getattr(actual, field), getattr(expected, field), atol=1e-4, rtol=1e-4)
    assert torch.equal(actual.is_top1, expected.is_top1) and torch.equal(actual.label_mask, expected.label_mask)
    assert grads.keys() == expected_grads.keys() and grads
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], atol=1e-5, rtol=1e-4, msg=name)
    # generation still runs the model's own forward
    assert model.generate(input_ids=input_ids[:1, :4], max_new_tokens=2, do_sample=False).shape == (1, 6)
