"""Reward-model training speed on the CPU default, side by side in one run: RewardTrainer (both sequences of every
pair through the model) against GroupedRewardTrainer (each response of a prompt once for all its pairs), with the
CPU reward recipe's LoRA + score head on the embedded SmolLM2-135M under bf16 autocast, on the demo comparisons.
Both see 4 pairs a step (4 pairs, or 2 prompts of 2 pairs each); the rate is measured after warm-up steps.

    python -m bench.reward_throughput [--steps 8]      (make bench)
"""

import argparse
import json
import time
from pathlib import Path

from peft import LoraConfig
from transformers import AutoTokenizer, TrainerCallback
from trl import RewardConfig, RewardTrainer

from gpt4llm.data import load_records
from gpt4llm.models import DEFAULT_MODEL, resolve_model
from gpt4llm.preferences import preference_groups, preference_pairs, split_by_prompt
from gpt4llm.reward import GroupedRewardTrainer

ROOT = Path(__file__).resolve().parents[1]
WARMUP_STEPS = 2


class StepClock(TrainerCallback):
    def __init__(self):
        self.step_ends = []

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    pairs, _ = preference_pairs(load_records(str(ROOT / "data/demo/comparisons_smollm2_en.json")))
    train, _ = split_by_prompt(pairs, 0.0, seed=0)
    groups = preference_groups(train)
    pairs_per_prompt = len(train) / len(groups)
    model = resolve_model(DEFAULT_MODEL)
    variants = [
        ("RewardTrainer, 4 pairs a step", RewardTrainer, train.remove_columns("margin"), 4, 2 * len(train)),
        (f"GroupedRewardTrainer, 2 prompts a step ({pairs_per_prompt:g} pairs each)", GroupedRewardTrainer, groups, 2,
         sum(len(r) for r in groups["responses"])),
    ]  # fmt: skip
    rows = []
    for name, trainer_class, dataset, batch_size, sequences in variants:
        clock = StepClock()
        trainer = trainer_class(
            model=model,
            args=RewardConfig(
                output_dir="/tmp/reward-bench", max_steps=WARMUP_STEPS + args.steps, per_device_train_batch_size=batch_size,
                learning_rate=2e-4, use_cpu=True, bf16=True, activation_checkpointing=False, max_length=768,
                report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=42,
            ),  # fmt: skip
            train_dataset=dataset,
            processing_class=AutoTokenizer.from_pretrained(model),
            peft_config=LoraConfig(task_type="SEQ_CLS", r=16, lora_alpha=32, target_modules="all-linear"),
            callbacks=[clock],
        )
        trainer.train()
        seconds = clock.step_ends[-1] - clock.step_ends[WARMUP_STEPS - 1]
        rows.append((name, 4 * args.steps, seconds, sequences / len(train)))
    baseline = rows[0][1] / rows[0][2]
    print("\n| reward training (CPU recipe) | pairs | seconds | pairs/s | sequences per pair | speedup |\n|---|---|---|---|---|---|")
    for name, n_pairs, seconds, per_pair in rows:
        print(f"| {name} | {n_pairs} | {seconds:.1f} | {n_pairs / seconds:.2f} | {per_pair:.2f} | {n_pairs / seconds / baseline:.2f}x |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    results = [{"variant": n, "pairs": p, "seconds": s, "sequences_per_pair": q} for n, p, s, q in rows]
    (out / "reward_throughput.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
