"""A fast CPU path for TRL's fused LM head, which its SFT, DPO, GRPO and RLOO trainers use for every training loss.

TRL 1.16 computes per-token log-probabilities with a fused head (`trl.trainer.utils.add_fused_lm_head`) built for
GPUs: with Triton it projects only the positions a loss is taken on, in tiles, never holding the logits. Without
Triton it scores every position, prompt and padding included, and folds each tile with a dozen fp32 elementwise
passes; on a CPU that is 3 to 4 times slower than the plain projection it replaces (1,200 positions of SmolLM2's
49,152-token vocabulary, one forward and backward: 3.6 s against 1.1 s for full logits and 0.8 s for the trained
positions only, measured on an AMD EPYC with native bf16), and it was 40% of the CPU SFT recipe's step.

`use_on_cpu(trainer)` gives the patched model, on a CPU, a forward that projects the trained positions only, with
ATen's log-softmax: the same loss, log-probabilities, entropy, mean logit and top-1 flag (tested equal to TRL's, and
so are the gradients), at the sampling temperature GRPO and RLOO divide the logits by, for the policy and for a
reference model the trainer holds. The logits of a batch's trained positions are held at once, which a CPU's memory
affords.
"""

import logging
import types

import torch
from trl.trainer.utils import FusedCausalLMOutput

logger = logging.getLogger(__name__)


def use_on_cpu(trainer) -> bool:
    """On a CPU, replace the fused head TRL added to `trainer`'s model, and to its reference model if it has one
    (SFTTrainer, DPOTrainer, GRPOTrainer, RLOOTrainer), by the compact one; returns whether it did. Models whose head
    scales or caps its logits, or MoE models, keep TRL's."""
    if trainer.args.device.type != "cpu":
        return False
    models = [trainer.model, getattr(trainer, "ref_model", None)]
    models = [m.get_base_model() if hasattr(m, "get_base_model") else m for m in models if m is not None]
    config = models[0].config.get_text_config()
    special = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")
    if any(getattr(config, name, None) not in (None, 1.0) for name in special) or hasattr(config, "num_experts"):
        return False
    temperature = getattr(trainer, "temperature", 1.0)  # GRPO and RLOO score completions at the sampling temperature
    for model in models:
        model.forward = types.MethodType(_compact_forward(model.forward, temperature), model)
    logger.info("CPU: the LM head projects only the positions a loss is taken on (gpt4llm.lm_head)")
    return True


def _compact_forward(trl_forward, temperature: float = 1.0):
    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None, **kwargs):
        if not fused_lm_head or shift_labels is not None:  # generation, or labels TRL shifted for parallelism
            return trl_forward(*args, fused_lm_head=fused_lm_head, labels=labels, shift_labels=shift_labels,
                               num_items_in_batch=num_items_in_batch, **kwargs)
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state[:, :-1]
        labels = labels[:, 1:].to(hidden.device)
        mask = labels != -100
        logits = self.get_output_embeddings()(hidden[mask]).float() / temperature  # [trained positions, vocabulary]
        log_z = logits.logsumexp(-1)
        targets = labels[mask]
        log_probs = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - log_z
        entropy = log_z - (torch.softmax(logits, -1) * logits).sum(-1)
        with torch.no_grad():
            mean_logits = logits.mean(-1)
            is_top1 = logits.argmax(-1) == targets  # the first maximum, as TRL counts it

        def per_position(values):  # zero where no loss is taken, as TRL's outputs are
            return values.new_zeros(mask.shape).masked_scatter(mask, values)

        log_probs = per_position(log_probs)
        loss = -log_probs.sum() / (mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch)
        return FusedCausalLMOutput(
            loss=loss,
            log_probs=log_probs,
            entropy=per_position(entropy),
            mean_logits=per_position(mean_logits),
            is_top1=per_position(is_top1),
            label_mask=mask,
        )

    return forward
