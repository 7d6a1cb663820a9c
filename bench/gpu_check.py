"""make gpu-check: the paper-scale recipes' GPU paths on one GPU, with no download, in a few minutes.

A LLaMA-architecture stand-in of 1.1B parameters with random weights (TinyLlama's shape, LLaMA's 32,000-token
vocabulary, the pad-less LLaMA-like tokenizer of tests/stand_ins.py, config pad_token_id 0) and data shaped like
Alpaca-GPT4's run through the shipped recipes, as `make` launches them:
  1. SFT, full fine-tune: `accelerate launch` with accelerate_configs/fsdp_8xa100.yaml at world size 1 and
     sft/llama-7b_full_en.yaml's settings (bf16, sdpa, activation checkpointing, global batch 128);
  2. SFT, QLoRA: bitsandbytes 4-bit on CUDA, single_gpu.yaml and sft/llama-7b_qlora_en_single_gpu.yaml;
  3. reward model: the grouped reward trainer, QLoRA, reward/llama-7b_qlora_single_gpu.yaml with grouped: true;
  4. `python -m eval generate` with the model of stage 1 (bf16, batched).
Each recipe stage overrides only the model, the data, the output directory, the number of steps, the accumulation
that keeps the recipe's global batch on one process, and report_to (none). Every stage prints its
tokens/s and model-FLOPs utilisation (MFU, bench/flops.py: training 3x the forward FLOPs for full fine-tuning, 2x
with a frozen base; activation recomputation not counted) against the bf16 matmul peak measured first; the
command exits with status 1 if a stage fails.

    python -m bench.gpu_check [--steps 6] [--output-dir outputs/gpu_check]      (make gpu-check [WHEELS=dir])
    python -m bench.gpu_check --size tiny --device cpu                          (its plumbing, on a CPU)
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from transformers import AutoConfig

from bench.flops import block_weights, matmul_peak
from bench.reward_throughput import real_length_comparisons
from bench.sft_throughput import alpaca_like_records
from gpt4llm.templates import alpaca_prompt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the stand-ins the tests use
from stand_ins import ONE_B, TINY, llama_tokenizer, save_llama, write_json  # noqa: E402


@dataclass
class Stage:
    name: str
    script: str
    recipe: str
    launcher: str
    data: str  # "alpaca" or "comparisons"
    backward: int  # training FLOPs per forward FLOP: 3 for full fine-tuning, 2 for a frozen (LoRA) base
    overrides: list[str] = field(default_factory=list)


STAGES = [
    Stage("SFT, full fine-tune, FSDP at world size 1", "sft", "sft/llama-7b_full_en.yaml", "fsdp_8xa100.yaml",
          "alpaca", 3),
    Stage("SFT, QLoRA (bitsandbytes 4-bit)", "sft", "sft/llama-7b_qlora_en_single_gpu.yaml", "single_gpu.yaml",
          "alpaca", 2, ["--merge_adapters", "false"]),
    Stage("reward model, grouped, QLoRA", "reward", "reward/llama-7b_qlora_single_gpu.yaml", "single_gpu.yaml",
          "comparisons", 2, ["--grouped", "true"]),
]  # fmt: skip


def accumulation_for_one_process(recipe: dict) -> int:
    """The accumulation steps that give the recipe's global batch on one process."""
    return recipe["global_batch_size"] // recipe["per_device_train_batch_size"]


def run_stage(stage: Stage, model: str, data: dict, out: Path, steps: int, cpu: bool) -> dict:
    config = ROOT / "recipes/configs" / stage.recipe
    recipe = yaml.safe_load(config.read_text())
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
              str(ROOT / "accelerate_configs" / stage.launcher), "--num_processes", "1"]  # fmt: skip
    command = [
        *launch, str(ROOT / "recipes" / f"{stage.script}.py"), "--config", str(config),
        "--model_name_or_path", model, "--dataset_name", data[stage.data], "--output_dir", str(out),
        "--max_steps", str(steps), "--gradient_accumulation_steps", str(accumulation_for_one_process(recipe)),
        "--report_to", "none", *stage.overrides,
        *(["--use_cpu", "true"] if cpu else []),
    ]  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)  # a measurement, not a run to resume
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=environment(cpu))
    if result.returncode != 0:
        return {"ok": False, "error": reason(result.stderr), "log": result.stderr[-4000:]}
    metrics = json.loads((out / "train_results.json").read_text())
    return {"ok": True, "seconds": time.perf_counter() - started, "tokens": metrics["num_tokens"],
            "runtime": metrics["train_runtime"]}  # fmt: skip


def environment(cpu: bool) -> dict:
    """This checkout importable by the recipe scripts (a GPU machine need not have the package installed)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **({"CUDA_VISIBLE_DEVICES": ""} if cpu else {})}


def reason(stderr: str) -> str:
    """The line that says why a command failed: the project's one-line error, an argument error, else the last
    exception raised (not the launcher's own, which only says that the script failed)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not re.search(r"(CalledProcessError|ChildFailedError)", line)]
    for pattern in (r"^error: ", r"^\S+\.py: error: ", r"^[\w.]+(Error|Exception): "):
        if found := [line for line in lines if re.match(pattern, line)]:
            return found[-1][:300]
    return lines[-1][:300] if lines else "failed with no output"


def run_generation(model: str, out: Path, cpu: bool) -> dict:
    for old in out.glob("answers.jsonl*"):  # a measurement, not a run to resume
        old.unlink()
    command = [sys.executable, "-m", "eval", "generate", "--model", model, "--questions",
               str(ROOT / "eval/data/demo_questions.jsonl"), "--output", str(out / "answers.jsonl"),
               "--max-new-tokens", "128", "--batch-size", "16"]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=environment(cpu))
    speed = re.search(r"(\d+) new tokens in ([\d.]+)s", result.stderr)
    wall = time.perf_counter() - started
    if result.returncode != 0 or not speed:
        error = reason(result.stderr) if result.returncode != 0 else "eval generate printed no tokens/s"
        return {"ok": False, "error": error, "log": result.stderr[-4000:]}
    return {"ok": True, "seconds": wall, "tokens": int(speed.group(1)), "runtime": float(speed.group(2))}


def training_flops_per_token(config, records: list[dict], tokenizer, backward: int, lm_head: bool) -> float:
    """Model FLOPs per trained token: the blocks' weights, causal attention at the data's mean length, and, for
    SFT, the LM head on the completion's share of the tokens (TRL's fused head projects only those)."""
    text = config.get_text_config()
    lengths = [len(ids) for ids in tokenizer([r["prompt"] + r["completion"] for r in records])["input_ids"]]
    completion = sum(len(ids) for ids in tokenizer([r["completion"] for r in records])["input_ids"]) / sum(lengths)
    mean_length = sum(n * n for n in lengths) / sum(lengths)
    forward = 2 * block_weights(config) + 2 * text.num_hidden_layers * text.hidden_size * mean_length
    if lm_head:
        forward += 2 * text.hidden_size * text.vocab_size * completion
    return backward * forward


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["1b", "tiny"], default="1b", help="tiny: a CPU check of the plumbing")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per training stage")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "outputs" / "gpu_check")
    args = parser.parse_args()
    cpu = args.device == "cpu"
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(0) if not cpu else "CPU"
    peak = matmul_peak(torch.bfloat16, args.device, size=8192 if not cpu else 1024)
    print(f"{name}: bf16 matmul peak {peak / 1e12:.1f} TFLOP/s", flush=True)

    tokenizer = llama_tokenizer()
    shape = ONE_B if args.size == "1b" else TINY
    model = save_llama(out / "stand-in", tokenizer, shape=shape, dtype="bfloat16", device=args.device)
    config = AutoConfig.from_pretrained(model)
    records = alpaca_like_records(2 * 128 * args.steps)
    comparisons = real_length_comparisons(64 * args.steps).rows
    data = {"alpaca": write_json(out / "alpaca.json", records),
            "comparisons": write_json(out / "comparisons.json", comparisons)}  # fmt: skip
    pairs = [{"prompt": alpaca_prompt(r["instruction"], r["input"]), "completion": r["output"]} for r in records[:200]]
    print(f"stand-in: {config.num_hidden_layers} layers, hidden {config.hidden_size}, vocabulary {config.vocab_size}, "
          f"{block_weights(config) / 1e9:.2f}B weights in its blocks", flush=True)

    rows, failed = [], False
    for number, stage in enumerate(STAGES, 1):
        stage_dir = out / f"{number}-{stage.script}-{Path(stage.recipe).stem}"
        result = run_stage(stage, model, data, stage_dir, args.steps, cpu)
        per_token = training_flops_per_token(config, pairs, tokenizer, stage.backward, lm_head=stage.script == "sft")
        rows.append((stage.name, result, per_token))
        failed |= not result["ok"]
        print(f"done: {stage.name}: {'ok' if result['ok'] else 'FAILED: ' + result['error']}", flush=True)
    sft_model = out / f"1-{STAGES[0].script}-{Path(STAGES[0].recipe).stem}"
    generation = run_generation(str(sft_model), out, cpu) if rows[0][1]["ok"] else {"ok": False, "error": "no model"}
    text = config.get_text_config()
    decode = 2 * (block_weights(config) + text.hidden_size * text.vocab_size)  # per new token; attention left out
    rows.append(("eval generate, batch 16 (bf16 on a GPU)", generation, decode))
    failed |= not generation["ok"]

    print(f"\n{name}, bf16 matmul peak {peak / 1e12:.1f} TFLOP/s, {args.steps} steps per training stage\n")
    print("| stage | tokens/s | MFU | wall s (with start-up) | |\n|---|---|---|---|---|")
    for stage_name, result, per_token in rows:
        if result["ok"]:
            rate = result["tokens"] / result["runtime"]
            mfu = 100 * rate * per_token / peak
            print(f"| {stage_name} | {rate:,.0f} | {mfu:.3g}% | {result['seconds']:.0f} | ok |")
        else:
            print(f"| {stage_name} | - | - | - | FAILED: {result['error']} |")
    (out / "gpu_check.json").write_text(json.dumps([{"stage": n, **r} for n, r, _ in rows], indent=2) + "\n")
    for stage_name, result, _ in rows:
        if not result["ok"]:
            print(f"\n--- {stage_name}\n{result.get('log', '')}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
