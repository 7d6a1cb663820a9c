"""SFT throughput on real-length data: this repo's recipe path (TRL SFTTrainer) next to a stanford_alpaca-style
baseline, side by side in one run.

    python -m bench.sft_throughput [--steps 8] [--rounds 2] [--batch-size 4]        (make bench)

Every variant trains the embedded SmolLM2-135M with the CPU recipe's LoRA (r16, alpha 32, all-linear, fp32 weights,
autocast to the precision the recipe picks on this CPU) on the same 800 synthetic records whose lengths are drawn
like Alpaca-GPT4's (114 words per output on average, a long tail cut at the 512-token max length), at the same
per-device batch size (but (d)), for the same number of optimizer steps after warm-up, in rounds that take turns:
  (a) baseline: plain transformers Trainer; stanford_alpaca's tokenization (prompt + output + EOS, prompt masked)
      and its collator (pad each batch to its longest example), examples in random order;
  (b) the CPU recipe: SFTTrainer on `to_sft_dataset(...)` with length-grouped batches (train_sampling_strategy
      group_by_length: batches of similar lengths, little padding, no cross-example mask), with the LM head
      projecting only the positions a loss is taken on (gpt4llm/lm_head.py; TRL's own scores every position on
      a CPU); the other SFTTrainer variants share that head;
  (c) SFTTrainer with padding_free=True but no packing, on the baseline's tokenized examples;
  (d) SFTTrainer with packing=True (bfd, padding-free), one 512-token packed row per step (per-device batch 1):
      see `variants` for why the row length matters.
Tokens are counted from the batches the collators actually built. A packed batch holds more examples than an
unpacked one, so compare tokens per second, not per step. "MFU" is the model FLOPs the batches' real tokens need
(bench/flops.py) per second, as a share of the matmul peak measured in this run in the precision trained in.
Results also go to bench/results/sft_throughput.json.
"""

import argparse
import json
import math
import os
import random
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments
from trl import SFTConfig, SFTTrainer

from bench.flops import block_weights, forward_flops, matmul_peak
from gpt4llm import lm_head
from gpt4llm.data import IGNORE_INDEX, Records, to_sft_dataset
from gpt4llm.models import resolve_model
from gpt4llm.precision import describe_cpu, use_bf16
from gpt4llm.templates import alpaca_prompt

ROOT = Path(__file__).resolve().parents[1]
MODEL = "embedded:smollm2-135m-instruct"
MAX_LENGTH = 512
WARMUP_STEPS = 1
LORA = dict(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", bias="none", task_type="CAUSAL_LM")
VOCAB = (
    "the of and to a in is that for it as with was on be by this are or from at an which have not can but all "
    "their more one use when there has been also will other these how time some people they would than each "
    "first new data model system process way work make example important help many most between such water "
    "energy health plan value design light sound story market price team language text change result number "
    "simple clear better provide include create improve consider ensure reduce develop support describe explain "
    "write list answer question following sentence reason step method quality environment community research"
).split()


def alpaca_like_records(n: int, seed: int = 0) -> list[dict]:
    """Records shaped like the released Alpaca-GPT4 data: instructions of ~13 words, an input on ~40% of them,
    outputs of ~114 words on average with a long tail (lognormal, sigma 1, clipped to [1, 600] words; on the
    real sample of 999 records: median 81 words, 90th percentile 279, 2.5% of examples over 512 tokens)."""
    rng = random.Random(seed)

    def text(mean_words: float, sigma: float, max_words: int) -> str:
        count = round(rng.lognormvariate(math.log(mean_words) - sigma**2 / 2, sigma))  # this mu gives that mean
        words = [rng.choice(VOCAB) for _ in range(min(max(count, 1), max_words))]
        # a sentence break every ~15 words, as in prose (punctuation is part of the token count)
        return " ".join(w + "." if rng.random() < 1 / 15 else w for w in words).capitalize() + "."

    return [
        {
            "instruction": text(13, 0.4, 80),
            "input": text(20, 0.8, 200) if rng.random() < 0.4 else "",
            "output": text(114, 1.0, 600),
        }
        for _ in range(n)
    ]


def stanford_alpaca_examples(records: list[dict], tokenizer) -> Dataset:
    """stanford_alpaca's train.py `preprocess`: tokenize prompt and prompt + output + EOS, mask the prompt's tokens."""
    rows = {"input_ids": [], "labels": []}
    for record in records:
        prompt = alpaca_prompt(record["instruction"], record["input"])
        prompt_length = len(tokenizer(prompt, truncation=True, max_length=MAX_LENGTH).input_ids)
        text = prompt + record["output"] + tokenizer.eos_token
        input_ids = tokenizer(text, truncation=True, max_length=MAX_LENGTH).input_ids
        rows["input_ids"].append(input_ids)
        rows["labels"].append([IGNORE_INDEX] * prompt_length + input_ids[prompt_length:])
    return Dataset.from_dict(rows)


def pad_to_longest(pad_token_id: int):
    """stanford_alpaca's DataCollatorForSupervisedDataset: pad to the batch's longest example, labels with -100.
    The attention mask comes from the lengths: stanford_alpaca's `input_ids != pad_token_id` would also hide the
    trained EOS here, since SmolLM2's pad token is its EOS."""

    def collate(examples: list[dict]) -> dict:
        longest = max(len(e["input_ids"]) for e in examples)
        batch = {"input_ids": [], "labels": [], "attention_mask": []}
        for e in examples:
            padding = longest - len(e["input_ids"])
            batch["input_ids"].append(e["input_ids"] + [pad_token_id] * padding)
            batch["labels"].append(e["labels"] + [IGNORE_INDEX] * padding)
            batch["attention_mask"].append([1] * len(e["input_ids"]) + [0] * padding)
        return {key: torch.tensor(value) for key, value in batch.items()}

    return collate


class CountingCollator:
    """Wraps a trainer's collator and records, for every batch in order, its trained, non-pad and all tokens and the
    lengths of the sequences in it. A padding-free batch is one row with no padding at all, hence no attention
    mask; its sequences start where position_ids restart at 0."""

    def __init__(self, collate):
        self.collate, self.counts, self.lengths = collate, [], []

    def __call__(self, examples):
        batch = self.collate(examples)
        all_tokens = batch["input_ids"].numel()
        if "attention_mask" in batch:
            lengths = batch["attention_mask"].sum(-1).tolist()
        else:
            starts = (batch["position_ids"].flatten() == 0).nonzero().flatten().tolist() + [all_tokens]
            lengths = [end - start for start, end in zip(starts, starts[1:])]
        self.counts.append((int((batch["labels"] != IGNORE_INDEX).sum()), sum(lengths), all_tokens))
        self.lengths.append(lengths)
        return batch


class StepClock(TrainerCallback):
    """Wall time at the end of every optimizer step: the time between two ends is one whole step (data, forward,
    backward, optimizer)."""

    def __init__(self):
        self.step_ends = []

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter())


def run(make_trainer, steps: int) -> dict:
    """One training run: the token counts, seconds and model FLOPs of its `steps` steps after warm-up."""
    clock = StepClock()
    trainer = make_trainer()
    trainer.add_callback(clock)
    trainer.data_collator = counter = CountingCollator(trainer.data_collator)
    trainer.train()
    # The dataloader may build one batch ahead of the step it serves; batches are still used in the order built.
    measured = slice(WARMUP_STEPS, WARMUP_STEPS + steps)
    trained, non_pad, all_tokens = (sum(c) for c in zip(*counter.counts[measured]))
    config = trainer.model.get_base_model().config
    weights = block_weights(config)
    # LoRA: the frozen base needs input gradients only, so the backward pass costs about one more forward pass
    flops = sum(2 * forward_flops(config, lengths, head, weights) for lengths, (head, _, _) in
                zip(counter.lengths[measured], counter.counts[measured]))
    seconds = clock.step_ends[WARMUP_STEPS + steps - 1] - clock.step_ends[WARMUP_STEPS - 1]
    # This run alone keeps the load near the core count; well above it, other work shared the CPU.
    return {"steps": steps, "seconds": seconds, "trained": trained, "non_pad": non_pad, "all_tokens": all_tokens,
            "flops": flops, "load_1min": os.getloadavg()[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="measured optimizer steps per variant and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all variants, each on other random batches")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--records", type=int, default=800, help="enough for group_by_length's largest megabatches")
    args = parser.parse_args()

    model_path = resolve_model(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    bf16 = use_bf16("auto")  # what the CPU recipe trains in here
    peak = matmul_peak(torch.bfloat16 if bf16 else torch.float32)
    records = alpaca_like_records(args.records)
    tokenized = stanford_alpaca_examples(records, tokenizer)
    words = sum(len(r["output"].split()) for r in records) / len(records)
    tokens = sum(len(ids) for ids in tokenized["input_ids"]) / len(tokenized)
    print(f"{len(records)} records: {words:.0f} output words and {tokens:.0f} tokens per example on average, "
          f"{sum(bool(r['input']) for r in records) / len(records):.0%} with an input")

    common = dict(
        output_dir=tempfile.mkdtemp(prefix="sft-bench-"), max_steps=WARMUP_STEPS + args.steps,
        gradient_accumulation_steps=1, learning_rate=2e-4, use_cpu=True, bf16=bf16, activation_checkpointing=False,
        report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True,
    )

    def model():  # fp32 master weights; `bf16` above is autocast, as in the CPU recipe
        return AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32, attn_implementation="sdpa")

    def recipe_dataset():
        return to_sft_dataset(Records("synthetic", records, [f"record {i}" for i in range(len(records))]), tokenizer)

    def sft(dataset, seed, batch_size=args.batch_size, **config):  # as recipes/sft.py builds it
        trainer = SFTTrainer(
            model=model(),
            args=SFTConfig(**common, seed=seed, per_device_train_batch_size=batch_size, **config),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=LoraConfig(**LORA),
        )
        lm_head.use_on_cpu(trainer)
        return trainer

    packing = dict(max_length=MAX_LENGTH, packing=True, packing_strategy="bfd", completion_only_loss=True)
    variants = {
        "(a) Trainer, pad to longest (stanford_alpaca)": lambda seed: Trainer(
            model=get_peft_model(model(), LoraConfig(**LORA)),
            args=TrainingArguments(**common, seed=seed, per_device_train_batch_size=args.batch_size),
            train_dataset=tokenized,
            data_collator=pad_to_longest(tokenizer.pad_token_id),
        ),
        "(b) SFTTrainer, length-grouped batches (the CPU recipe)": lambda seed: sft(
            recipe_dataset(),
            seed,
            max_length=MAX_LENGTH,
            train_sampling_strategy="group_by_length",
            completion_only_loss=True,
        ),
        # Padding-free works with CPU SDPA: transformers finds the examples from the restarting position_ids and builds
        # a block-diagonal mask. SFTTrainer refuses padding_free without packing when max_length is set (it would not
        # truncate), so this one trains on the baseline's examples, already truncated to MAX_LENGTH, max_length=None.
        "(c) SFTTrainer, padding-free, no packing": lambda seed: sft(
            tokenized, seed, max_length=None, padding_free=True
        ),
        # Padding-free concatenates a batch's packed rows into ONE sequence of batch x max_length tokens. CPU SDPA has
        # no varlen kernel, so it scores that whole sequence against itself under the block-diagonal mask: attention
        # per token grows with batch x max_length (2048 for 4 rows: 0.9x to 1.1x the baseline in earlier runs, so it is
        # left out). One 512-token row per step keeps it short.
        "(d) SFTTrainer, packing (bfd), one 512-token row a step": lambda seed: sft(
            recipe_dataset(), seed, batch_size=1, **packing
        ),
    }
    totals = {name: [] for name in variants}
    for round_ in range(args.rounds):  # the variants take turns, so slow and fast moments fall on all of them
        for name, make_trainer in variants.items():
            totals[name].append(run(lambda: make_trainer(42 + round_), args.steps))
            print(f"done: round {round_ + 1}: {name}", flush=True)
    results = []
    for name, runs in totals.items():
        keys = ("steps", "seconds", "trained", "non_pad", "all_tokens", "flops")
        total = {key: sum(r[key] for r in runs) for key in keys}
        seconds = total["seconds"]
        results.append({
            "variant": name, "steps": total["steps"], "s_per_step": seconds / total["steps"],
            "trained_tok_per_s": total["trained"] / seconds, "non_pad_tok_per_s": total["non_pad"] / seconds,
            "padding_pct": 100 * (total["all_tokens"] - total["non_pad"]) / total["all_tokens"],
            "mfu": total["flops"] / total["seconds"] / peak, "load_1min": max(r["load_1min"] for r in runs),
        })
    baseline = results[0]["trained_tok_per_s"]
    print(f"\n{describe_cpu()}, {'bf16' if bf16 else 'fp32'} (the CPU recipe's choice here), matmul peak "
          f"{peak / 1e9:.0f} GFLOP/s; batch size {args.batch_size}, max_length {MAX_LENGTH}, "
          f"{args.rounds} rounds of {args.steps} steps after {WARMUP_STEPS} warm-up\n")
    print("| variant | s/step | trained tok/s | non-pad tok/s | padding % | MFU | speedup |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        r["speedup"] = r["trained_tok_per_s"] / baseline
        print(f"| {r['variant']} | {r['s_per_step']:.2f} | {r['trained_tok_per_s']:.0f} | "
              f"{r['non_pad_tok_per_s']:.0f} | {r['padding_pct']:.1f} | {100 * r['mfu']:.1f}% | {r['speedup']:.2f}x |")
    busy = [r["variant"][:3] for r in results if r["load_1min"] > (os.cpu_count() or 1) + 0.5]
    if busy:
        print(f"\nwarning: other processes shared the CPU during {' '.join(busy)} (1-min load above the core count), "
              "so those timings are inflated")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sft_throughput.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
