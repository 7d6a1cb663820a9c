"""Reward-model training speed on the CPU default, side by side in one run: RewardTrainer (both sequences of every
pair through the model) against GroupedRewardTrainer (each response of a prompt once for all its pairs), with the
CPU reward recipe's LoRA + score head on the embedded SmolLM2-135M, autocast to the precision the recipe picks on
this CPU, on two sets:
  - real-length: synthetic prompts shaped like Alpaca-GPT4's with three responses each, drawn like its outputs (114
    words on average, a long tail up to the 768-token max_length), scored 9, 6 and 3 as in the released comparison
    data, whose three sources mostly score differently: 3 pairs a prompt;
  - demo: the project's comparisons rated by the embedded 135M judge, whose many ties leave about 2 pairs a prompt.
Both trainers see the same number of pairs a step; the rate is measured after warm-up steps. "MFU" is the model
FLOPs of the sequences' real tokens (bench/flops.py) per second, as a share of the matmul peak measured in this
run in the precision trained in.

    python -m bench.reward_throughput [--steps 8] [--rounds 2]      (make bench)
"""

import argparse
import json
import random
import time
from pathlib import Path

import torch
from peft import LoraConfig
from transformers import AutoConfig, AutoTokenizer, TrainerCallback
from trl import RewardConfig, RewardTrainer

from bench.flops import block_weights, forward_flops, matmul_peak
from bench.sft_throughput import alpaca_like_records
from gpt4llm.data import Records, load_records
from gpt4llm.models import DEFAULT_MODEL, resolve_model
from gpt4llm.precision import describe_cpu, use_bf16
from gpt4llm.preferences import preference_groups, preference_pairs, split_by_prompt
from gpt4llm.reward import GroupedRewardTrainer, reward_text
from gpt4llm.templates import alpaca_user_input

ROOT = Path(__file__).resolve().parents[1]
WARMUP_STEPS = 2
MAX_LENGTH = 768  # the CPU reward recipe's


class StepClock(TrainerCallback):
    def __init__(self):
        self.step_ends = []

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter())


def real_length_comparisons(n: int, seed: int = 0) -> Records:
    """comparison_data_v2 records: an Alpaca-GPT4-shaped prompt and three responses of Alpaca-GPT4-shaped lengths
    with three distinct scores."""
    prompts, answers = alpaca_like_records(n, seed), alpaca_like_records(3 * n, seed + 1)
    random.Random(seed).shuffle(answers)
    rows = [{"user_input": alpaca_user_input(p["instruction"], p["input"]),
             "responses_and_scores": [{"response": answers[3 * i + k]["output"], "score": score, "source": f"s{k}"}
                                      for k, score in enumerate((9.0, 6.0, 3.0))]}
            for i, p in enumerate(prompts)]
    return Records("real-length", rows, [f"row {i}" for i in range(n)])


def measure(trainer_class, dataset, batch_size, steps, seed, model, tokenizer, bf16) -> dict:
    """One training run: the pairs, sequences, seconds and model FLOPs of its `steps` steps after warm-up."""
    clock = StepClock()
    trainer = trainer_class(
        model=model,
        args=RewardConfig(
            output_dir="/tmp/reward-bench", max_steps=WARMUP_STEPS + steps, per_device_train_batch_size=batch_size,
            learning_rate=2e-4, use_cpu=True, bf16=bf16, activation_checkpointing=False, max_length=MAX_LENGTH,
            report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=seed,
        ),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(task_type="SEQ_CLS", r=16, lora_alpha=32, target_modules="all-linear"),
        callbacks=[clock],
    )
    lengths, pairs = [], []
    collate = trainer.data_collator

    def counting(examples):  # the sequences and pairs of every batch, in the order the loader builds them
        batch = collate(examples)
        lengths.append(batch["attention_mask"].sum(-1).tolist())
        pairs.append(len(batch["chosen_index"]) if "chosen_index" in batch else len(batch["input_ids"]) // 2)
        return batch

    trainer.data_collator = counting
    trainer.train()
    seconds = clock.step_ends[-1] - clock.step_ends[WARMUP_STEPS - 1]
    config = AutoConfig.from_pretrained(model)
    weights = block_weights(config)
    measured = slice(WARMUP_STEPS, WARMUP_STEPS + steps)
    # LoRA: the backward pass of the frozen base costs about one more forward pass
    flops = sum(2 * forward_flops(config, batch, 0, weights) for batch in lengths[measured])
    sequences = sum(len(batch) for batch in lengths[measured])
    return {"pairs": sum(pairs[measured]), "sequences": sequences, "seconds": seconds, "flops": flops}


def variants(records: Records, tokenizer, pairs_per_step: int) -> list[tuple]:
    """(name, trainer, dataset, batch size) for RewardTrainer and GroupedRewardTrainer on the same pairs; pairs
    over max_length are left out first, so both train on the same ones."""
    pairs, _ = preference_pairs(records)
    fits = [p for p in pairs if all(len(tokenizer(reward_text(p["prompt"], p[side], tokenizer.eos_token)).input_ids)
                                    <= MAX_LENGTH for side in ("chosen", "rejected"))]
    train, _ = split_by_prompt(fits, 0.0, seed=0)
    groups = preference_groups(train)
    per_prompt = len(train) / len(groups)
    prompts_per_step = max(1, round(pairs_per_step / per_prompt))
    return [
        (f"RewardTrainer, {pairs_per_step} pairs a step", RewardTrainer, train.remove_columns("margin"),
         pairs_per_step),
        (f"GroupedRewardTrainer, {prompts_per_step} prompts a step ({per_prompt:.2g} pairs each; the CPU recipe)",
         GroupedRewardTrainer, groups, prompts_per_step),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="measured optimizer steps per variant and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all variants, each on other random batches")
    args = parser.parse_args()
    model = resolve_model(DEFAULT_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(model)
    bf16 = use_bf16("auto")  # what the CPU recipe trains in here
    peak = matmul_peak(torch.bfloat16 if bf16 else torch.float32)
    sets = {
        "real-length (3 distinct scores a prompt)": (real_length_comparisons(200), 6),
        "demo (the embedded judge's ratings)": (load_records(str(ROOT / "data/demo/comparisons_smollm2_en.json")), 4),
    }
    runs = [(data, *variant) for data, (records, pairs_per_step) in sets.items()
            for variant in variants(records, tokenizer, pairs_per_step)]
    totals = {(data, name): [] for data, name, *_ in runs}
    for round_ in range(args.rounds):  # the variants take turns, so slow and fast moments fall on all of them
        for data, name, trainer_class, dataset, batch_size in runs:
            totals[data, name].append(measure(trainer_class, dataset, batch_size, args.steps, 42 + round_, model,
                                              tokenizer, bf16))
            print(f"done: round {round_ + 1}: {data}: {name}", flush=True)
    rows = []
    for (data, name), results in totals.items():
        total = {key: sum(r[key] for r in results) for key in ("pairs", "sequences", "seconds", "flops")}
        rows.append((data, {"variant": name, "pairs": total["pairs"], "seconds": total["seconds"],
                            "mfu": total["flops"] / total["seconds"] / peak,
                            "sequences_per_pair": total["sequences"] / total["pairs"]}))
    print(f"\n{describe_cpu()}, {'bf16' if bf16 else 'fp32'} (the CPU recipe's choice here), matmul peak "
          f"{peak / 1e9:.0f} GFLOP/s; {args.rounds} rounds of {args.steps} steps after {WARMUP_STEPS} warm-up\n")
    print("| data | reward training | pairs/s | sequences per pair | MFU | speedup |\n|---|---|---|---|---|---|")
    baselines = {}
    for data, r in rows:
        rate = r["pairs"] / r["seconds"]
        baseline = baselines.setdefault(data, rate)
        r["speedup"] = rate / baseline
        print(f"| {data} | {r['variant']} | {rate:.2f} | {r['sequences_per_pair']:.2f} | {100 * r['mfu']:.1f}% | "
              f"{r['speedup']:.2f}x |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "reward_throughput.json").write_text(json.dumps([{"data": d, **r} for d, r in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
