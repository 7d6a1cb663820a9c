"""make gpu-check: every GPU path of the paper-scale recipes on one GPU, with no download, each stage bounded in time,
and the paper's 7B recipe measured on its own shape.

Stand-ins with random weights and data shaped like the released data run through the shipped recipes, as `make`
launches them: a LLaMA-architecture model of 1.1B parameters (TinyLlama's shape, LLaMA's 32,000-token vocabulary,
the pad-less LLaMA-like tokenizer of tests/stand_ins.py, config pad_token_id 0), an OPT of OPT-1.3B's shape, and,
last, LLaMA-7B's own configuration:
  1. SFT, full fine-tune: accelerate_configs/fsdp_8xa100.yaml at world size 1, sft/llama-7b_full_en.yaml;
  2. SFT, QLoRA: bitsandbytes 4-bit, single_gpu.yaml and sft/llama-7b_qlora_en_single_gpu.yaml;
  3. SFT, QLoRA under FSDP: fsdp_qlora.yaml at world size 1 and sft/llama-7b_qlora_en_fsdp.yaml;
  4. reward model, grouped, QLoRA: reward/llama-7b_qlora_single_gpu.yaml with grouped: true;
  5. the paper's reward model: reward/opt-1.3b_full.yaml on the OPT-1.3B-shaped stand-in;
  6. DPO, QLoRA: dpo/llama-7b_qlora_single_gpu.yaml;
  7. GRPO rewarded by stage 4's reward model: rl/llama-7b_grpo_ddp.yaml (a global batch of 2 prompts x 8
     completions of 64 tokens: a random policy never stops, and the recipe's 32 x 8 x 384 would take minutes a step);
  8. `python -m eval generate` with stage 1's model (bf16, batched);
  9. SFT on LLaMA-7B's shape: sft/llama-7b_full_en.yaml under FSDP, 2 optimizer steps, nothing saved; from its
     rate, the hours of the paper's 3 epochs on 52K records on 8 such GPUs. It skips itself, saying why, where the
     GPU's memory cannot hold it.
A stage overrides only the model, the data, the output folder, the steps, the accumulation that keeps the recipe's
global batch on one process, and report_to (none). Each stage prints its row the moment it ends: tokens/s, the
model-FLOPs utilisation (MFU, bench/flops.py: training 3x the forward FLOPs for full fine-tuning, 2x with a frozen
base, DPO's reference pass on top; activation recomputation not counted; none for GRPO, whose time goes to
sampling) against the bf16 matmul peak measured first, the peak GPU memory, and its wall time split into start-up
(interpreter, imports, launcher), preparation (tokenizer, data, model load, the trainer's tokenization), training,
and evaluation and saving. A stage that runs past --stage-timeout is stopped and reported with the phase it was in;
the check goes on, and exits with status 1 if any stage failed or timed out.

    python -m bench.gpu_check [--steps 3] [--stage-timeout 120] [--output-dir outputs/gpu_check]   (make gpu-check)
    python -m bench.gpu_check --size tiny --device cpu --stage-timeout 2                          (the plumbing)
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from transformers import AutoConfig
from transformers.utils import logging as transformers_logging

from bench.flops import block_weights, matmul_peak
from bench.reward_throughput import real_length_comparisons
from bench.sft_throughput import alpaca_like_records
from gpt4llm.training import PHASES
from gpt4llm.training import logger as recipe_logger
from gpt4llm.templates import alpaca_prompt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the stand-ins the tests use
from stand_ins import (  # noqa: E402
    ONE_B, OPT_1_3B, OPT_TINY, SEVEN_B, TINY, llama_tokenizer, opt_tokenizer, save_llama, save_opt, write_json,
)

PAPER_RECORDS, PAPER_EPOCHS, PAPER_GPUS = 52002, 3, 8  # Alpaca-GPT4's English records, the recipe's epochs, 8xA100
BYTES_PER_PARAMETER = 16  # full fine-tuning in the 7B recipe: fp32 weights, fp32 gradients, AdamW's two fp32 moments


@dataclass(frozen=True)
class Stage:
    key: str  # its folder, and how later stages name it
    name: str
    script: str  # recipes/<script>.py
    recipe: str  # under recipes/configs/
    launcher: str  # under accelerate_configs/
    data: str  # "alpaca" or "comparisons"
    backward: int | None  # training FLOPs per forward FLOP (3 full, 2 frozen base, +1 DPO's reference); None: no MFU
    model: str = "llama"  # the stand-in: "llama" (1.1B), "opt" (OPT-1.3B), "llama-7b"
    overrides: tuple[str, ...] = ()
    global_batch: int | None = None  # instead of the recipe's
    steps: int | None = None  # instead of --steps
    reward_model_from: str | None = None  # the stage whose output is the reward model


STAGES = [
    Stage("sft-fsdp", "SFT, full fine-tune, FSDP at world size 1", "sft", "sft/llama-7b_full_en.yaml",
          "fsdp_8xa100.yaml", "alpaca", 3),
    Stage("sft-qlora", "SFT, QLoRA (bitsandbytes 4-bit)", "sft", "sft/llama-7b_qlora_en_single_gpu.yaml",
          "single_gpu.yaml", "alpaca", 2, overrides=("--merge_adapters", "false")),
    Stage("sft-qlora-fsdp", "SFT, QLoRA under FSDP2 at world size 1", "sft", "sft/llama-7b_qlora_en_fsdp.yaml",
          "fsdp_qlora.yaml", "alpaca", 2, overrides=("--merge_adapters", "false")),
    Stage("reward-qlora", "reward model, grouped, QLoRA", "reward", "reward/llama-7b_qlora_single_gpu.yaml",
          "single_gpu.yaml", "comparisons", 2, overrides=("--grouped", "true")),
    Stage("reward-opt", "reward model, OPT-1.3B shape, full (the paper's)", "reward", "reward/opt-1.3b_full.yaml",
          "single_gpu.yaml", "comparisons", 3, model="opt"),
    Stage("dpo-qlora", "DPO, QLoRA", "dpo", "dpo/llama-7b_qlora_single_gpu.yaml", "single_gpu.yaml", "comparisons",
          3, overrides=("--merge_adapters", "false")),
    Stage("grpo", "GRPO with the reward model of stage 4", "rl", "rl/llama-7b_grpo_ddp.yaml", "single_gpu.yaml",
          "alpaca", None, overrides=("--max_completion_length", "64", "--merge_adapters", "false",
                                     "--dataset_limit", "64"),
          global_batch=16, steps=2, reward_model_from="reward-qlora"),
]
GENERATION = "eval generate, batch 16 (bf16 on a GPU)"
SEVEN_B_STAGE = Stage("sft-7b", "SFT, LLaMA-7B's shape, full fine-tune, FSDP", "sft", "sft/llama-7b_full_en.yaml",
                      "fsdp_8xa100.yaml", "alpaca", 3, model="llama-7b",
                      overrides=("--save_model", "false", "--save_strategy", "no"), steps=2)
COLUMNS = ["stage", "result", "tokens/s", "MFU", "peak GiB", "GPU busy", "start-up s", "prepare s", "train s",
           "finish s", "wall s"]


@dataclass
class Finished:
    """How a command ended: its exit status (None: stopped at the time limit), its log, its wall time and how busy
    it kept the GPU."""

    returncode: int | None
    log: str
    launched_at: float
    ended_at: float
    gpu_busy: float | None  # % of samples

    @property
    def seconds(self) -> float:
        return self.ended_at - self.launched_at


def run_command(command: list[str], log_path: Path, timeout: float, cpu: bool) -> Finished:
    """Run `command` in its own process group, its output to `log_path`; past `timeout`, stop the whole group (the
    launcher and the processes it started) and report it as stopped. On a GPU, nvidia-smi samples how busy the GPU
    is meanwhile."""
    launched = time.time()
    with log_path.open("w") as log, GpuBusy(enabled=not cpu) as busy:
        process = subprocess.Popen(command, cwd=ROOT, env=environment(cpu), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            returncode = None
            stop(process)
    return Finished(returncode, log_path.read_text(errors="replace"), launched, time.time(), busy.share())


class GpuBusy:
    """The share of half-second samples in which GPU 0 ran a kernel (nvidia-smi's utilization.gpu above 0): a stage
    that leaves the GPU idle while its wall time runs shows a low share; the phase columns say where."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and shutil.which("nvidia-smi") is not None
        self.sampler, self.samples = None, []

    def __enter__(self) -> "GpuBusy":
        if self.enabled:
            query = ["nvidia-smi", "--id=0", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                     "-lms", "500"]
            self.sampler = subprocess.Popen(query, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self

    def __exit__(self, *exc) -> None:
        if self.sampler:
            self.sampler.terminate()
            output, _ = self.sampler.communicate()
            self.samples = [int(line) for line in output.split() if line.isdigit()]

    def share(self) -> float | None:
        return 100 * sum(sample > 0 for sample in self.samples) / len(self.samples) if self.samples else None


def stop(process: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=grace)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def environment(cpu: bool) -> dict:
    """This checkout importable by the recipe scripts (a GPU machine need not have the package installed), and
    output that reaches the log as it is written, so that a stopped stage says where it was."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **({"CUDA_VISIBLE_DEVICES": ""} if cpu else {})}


def reason(log: str) -> str:
    """The line that says why a command failed: the project's one-line error, an argument error, else the last
    exception raised (not the launcher's own, which only says that the script failed)."""
    lines = [re.sub(r"^\[rank\d+\]:\s*", "", line).strip() for line in log.splitlines()]  # torchrun's prefix
    lines = [line for line in lines if line and not line.startswith("=")]
    lines = [line for line in lines if not re.search(r"(CalledProcessError|ChildFailedError)", line)]
    for pattern in (r"^error: ", r"^\S+\.py: error: ", r"^[\w.]+(Error|Exception): "):
        if found := [line for line in lines if re.match(pattern, line)]:
            return found[-1][:300]
    return lines[-1][:300] if lines else "failed with no output"


def phase_of(log: str) -> str:
    """What a stopped recipe was doing: the last phase it logged (gpt4llm.training.PHASES), with the step of its
    progress bar while training."""
    phases = "|".join(map(re.escape, PHASES.values()))
    logged = re.findall(rf"{re.escape(recipe_logger.name)}: ({phases})\s*$", log, re.MULTILINE)
    if not logged:
        return "starting up (interpreter, imports, launcher)"
    phase = logged[-1]
    if phase == PHASES["train"]:
        steps = re.findall(r"(\d+)/(\d+) \[", log[log.rfind(PHASES["train"]):])
        return f"{phase} (step {steps[-1][0]} of {steps[-1][1]})" if steps else f"{phase} (before the first step)"
    return phase


def run_stage(stage: Stage, models: dict, data: dict, out: Path, steps: int, timeout: float, cpu: bool,
              reward_models: dict) -> dict:
    config = ROOT / "recipes/configs" / stage.recipe
    recipe = yaml.safe_load(config.read_text())
    global_batch = stage.global_batch or recipe["global_batch_size"]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
              str(ROOT / "accelerate_configs" / stage.launcher), "--num_processes", "1"]
    reward = ["--reward_model_path", reward_models[stage.reward_model_from]] if stage.reward_model_from else []
    command = [
        *launch, str(ROOT / "recipes" / f"{stage.script}.py"), "--config", str(config),
        "--model_name_or_path", models[stage.model], "--dataset_name", data[stage.data], "--output_dir", str(out),
        "--max_steps", str(stage.steps or steps), "--global_batch_size", str(global_batch),
        "--gradient_accumulation_steps", str(global_batch // recipe["per_device_train_batch_size"]),
        "--report_to", "none", *reward, *stage.overrides, *(["--use_cpu", "true"] if cpu else []),
    ]
    shutil.rmtree(out, ignore_errors=True)  # a measurement, not a run to resume
    out.mkdir(parents=True)
    finished = run_command(command, out.parent / f"{out.name}.log", timeout, cpu)
    ended = {"wall": finished.seconds, "gpu_busy": finished.gpu_busy}
    if finished.returncode is None:
        return {"result": f"timed out after {timeout:g} s while {phase_of(finished.log)}", **ended}
    if finished.returncode != 0:
        return {"result": f"FAILED: {reason(finished.log)}", **ended, "log": finished.log[-4000:]}
    metrics = json.loads((out / "train_results.json").read_text())
    # the steady rate: the steps after the first, whose one-off costs (kernels loaded, warm-up) it leaves out
    steady = metrics["first_step_tokens"] is not None and metrics["num_tokens"] > metrics["first_step_tokens"]
    tokens = metrics["num_tokens"] - (metrics["first_step_tokens"] if steady else 0)
    began = metrics["first_step_ended_at"] if steady else metrics["train_started_at"]
    return {
        "result": "ok", **ended, "tokens": tokens, "seconds": metrics["train_ended_at"] - began,
        "steps_timed": metrics["global_step"] - steady,
        "peak_gib": metrics.get("gpu_peak_memory_gib"),
        "start-up": metrics["recipe_started_at"] - finished.launched_at,
        "prepare": metrics["train_started_at"] - metrics["recipe_started_at"],
        "train": metrics["train_ended_at"] - metrics["train_started_at"],
        "finish": finished.ended_at - metrics["train_ended_at"],
    }


def run_generation(model: str, out: Path, timeout: float, cpu: bool) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("answers.jsonl*"):  # a measurement, not a run to resume
        old.unlink()
    command = [sys.executable, "-m", "eval", "generate", "--model", model, "--questions",
               str(ROOT / "eval/data/demo_questions.jsonl"), "--output", str(out / "answers.jsonl"),
               "--max-new-tokens", "128", "--batch-size", "16"]
    finished = run_command(command, out / "generate.log", timeout, cpu)
    speed = re.search(r"(\d+) new tokens in ([\d.]+)s", finished.log)
    ended = {"wall": finished.seconds, "gpu_busy": finished.gpu_busy}
    if finished.returncode is None:
        doing = "generating" if "Generating" in finished.log or "new tokens" in finished.log else "loading"
        return {"result": f"timed out after {timeout:g} s while {doing}", **ended}
    if finished.returncode != 0 or not speed:
        error = reason(finished.log) if finished.returncode != 0 else "eval generate printed no tokens/s"
        return {"result": f"FAILED: {error}", **ended, "log": finished.log[-4000:]}
    runtime = float(speed.group(2))
    return {"result": "ok", **ended, "tokens": int(speed.group(1)), "seconds": runtime,
            "start-up": finished.seconds - runtime, "train": runtime}


def training_flops_per_token(config, records: list[dict], tokenizer, backward: int, lm_head: bool) -> float:
    """Model FLOPs per trained token: the blocks' weights, causal attention at the data's mean length, and, for
    SFT and DPO, the LM head on the completion's share of the tokens (TRL's fused head projects only those)."""
    text = config.get_text_config()
    lengths = [len(ids) for ids in tokenizer([r["prompt"] + r["completion"] for r in records])["input_ids"]]
    completion = sum(len(ids) for ids in tokenizer([r["completion"] for r in records])["input_ids"]) / sum(lengths)
    mean_length = sum(n * n for n in lengths) / sum(lengths)
    forward = 2 * block_weights(config) + 2 * text.num_hidden_layers * text.hidden_size * mean_length
    if lm_head:
        forward += 2 * text.hidden_size * text.vocab_size * completion
    return backward * forward


def seven_b_fits(cpu: bool, out: Path) -> str | None:
    """Why the 7B stage cannot run here (GPU memory, disk for its 13 GB of weights), or None."""
    if cpu:
        return None
    parameters = 6.74e9
    needed = BYTES_PER_PARAMETER * parameters * 1.15 / 2**30  # 15% for activations, buffers and fragmentation
    total = torch.cuda.get_device_properties(0).total_memory / 2**30
    if total < needed:
        return (f"skipped: full fine-tuning of 6.7B parameters needs about {needed:.0f} GiB on one GPU "
                f"({BYTES_PER_PARAMETER} bytes each, and activations); this GPU has {total:.0f} GiB")
    free = shutil.disk_usage(out).free / 2**30
    if free < 2 * parameters * 1.1 / 2**30:
        return f"skipped: its bf16 stand-in needs {2 * parameters / 2**30:.0f} GiB of disk; {free:.0f} GiB free"
    return None


def cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_row(name: str, row: dict, per_token: float | None, peak: float) -> None:
    rate = row["tokens"] / row["seconds"] if row.get("tokens") else None
    row["tokens_per_s"] = rate
    row["mfu"] = 100 * rate * per_token / peak if rate and per_token else None
    percent = lambda value: "-" if value is None else f"{value:.3g}%"  # noqa: E731
    cells = [name, row["result"], cell(rate, ",.0f"), percent(row["mfu"]), cell(row.get("peak_gib"), ".1f"),
             percent(row.get("gpu_busy")),
             *(cell(row.get(k), ".0f") for k in ("start-up", "prepare", "train", "finish", "wall"))]
    print("| " + " | ".join(cells) + " |", flush=True)


def paper_hours(row: dict, global_batch: int) -> str:
    """The paper's 3 epochs on 52K records on 8 GPUs at the steady rate measured (the steps after the first; FSDP's
    communication between GPUs not counted)."""
    records_per_second = global_batch * row["steps_timed"] / row["seconds"]
    hours = PAPER_EPOCHS * PAPER_RECORDS / (PAPER_GPUS * records_per_second) / 3600
    return (f"LLaMA-7B, the paper's {PAPER_EPOCHS} epochs on {PAPER_RECORDS:,} records at {records_per_second:.2f} "
            f"records/s per GPU: about {hours:.1f} h on {PAPER_GPUS} such GPUs (communication not counted)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["1b", "tiny"], default="1b", help="tiny: a CPU check of the plumbing")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=3,
                        help="optimizer steps per training stage; rates leave the first out")
    parser.add_argument("--stage-timeout", type=float, default=120, metavar="SECONDS",
                        help="stop a stage that runs longer, report where it was, and go on (the 7B stage: 3x)")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "outputs" / "gpu_check")
    args = parser.parse_args()
    cpu, out, tiny = args.device == "cpu", args.output_dir, args.size == "tiny"
    transformers_logging.disable_progress_bar()  # the stand-ins' "Writing model shards"; the table is the output
    out.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(0) if not cpu else "CPU"
    peak = matmul_peak(torch.bfloat16, args.device, size=8192 if not cpu else 1024)
    print(f"{name}: bf16 matmul peak {peak / 1e12:.1f} TFLOP/s; {args.steps} steps a training stage, each stopped "
          f"after {args.stage_timeout:g} s", flush=True)

    started = time.time()
    tokenizer, opt = llama_tokenizer(), opt_tokenizer()
    models = {
        "llama": save_llama(out / "stand-in", tokenizer, shape=TINY if tiny else ONE_B, dtype="bfloat16",
                            device=args.device),
        "opt": save_opt(out / "stand-in-opt", opt, shape=OPT_TINY if tiny else OPT_1_3B, dtype="float32",
                        device=args.device),
    }
    config = AutoConfig.from_pretrained(models["llama"])
    records = alpaca_like_records(2 * 128 * args.steps)
    data = {"alpaca": write_json(out / "alpaca.json", records),
            "comparisons": write_json(out / "comparisons.json", real_length_comparisons(64 * args.steps).rows)}
    pairs = [{"prompt": alpaca_prompt(r["instruction"], r["input"]), "completion": r["output"]} for r in records[:200]]
    print(f"stand-ins and data in {time.time() - started:.0f} s: {config.num_hidden_layers} layers, hidden "
          f"{config.hidden_size}, vocabulary {config.vocab_size}, {block_weights(config) / 1e9:.2f}B weights in its "
          f"blocks\n", flush=True)
    print("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS), flush=True)

    rows: dict[str, dict] = {}

    def flops(stage: Stage, model_config) -> float | None:
        if stage.backward is None:
            return None
        return training_flops_per_token(model_config, pairs, tokenizer, stage.backward, stage.script in ("sft", "dpo"))

    configs = {"llama": config, "opt": AutoConfig.from_pretrained(models["opt"])}
    for number, stage in enumerate(STAGES, 1):
        stage_dir = out / f"{number}-{stage.key}"
        if stage.reward_model_from and rows[stage.reward_model_from]["result"] != "ok":
            row = {"result": f"skipped: needs the reward model of stage '{stage.reward_model_from}'"}
        else:
            reward_models = {key: str(out / f"{n}-{key}") for n, key in enumerate([s.key for s in STAGES], 1)}
            row = run_stage(stage, models, data, stage_dir, args.steps, args.stage_timeout, cpu, reward_models)
        rows[stage.key] = row
        print_row(stage.name, row, flops(stage, configs[stage.model]), peak)

    if rows["sft-fsdp"]["result"] == "ok":
        generation = run_generation(str(out / f"1-{STAGES[0].key}"), out / "generate", args.stage_timeout, cpu)
    else:
        generation = {"result": "skipped: needs the model of stage 1"}
    text = config.get_text_config()
    rows["generate"] = generation
    print_row(GENERATION, generation, 2 * (block_weights(config) + text.hidden_size * text.vocab_size), peak)

    seven_b = SEVEN_B_STAGE
    if why := seven_b_fits(cpu, out):
        rows[seven_b.key] = {"result": why}
        print_row(seven_b.name, rows[seven_b.key], None, peak)
    else:
        made = time.time()
        models["llama-7b"] = save_llama(out / "stand-in-7b", tokenizer, shape=TINY if tiny else SEVEN_B,
                                        dtype="bfloat16", device=args.device)
        made = time.time() - made
        seven_config = AutoConfig.from_pretrained(models["llama-7b"])
        row = run_stage(seven_b, models, data, out / f"{len(STAGES) + 2}-{seven_b.key}", args.steps,
                        3 * args.stage_timeout, cpu, {})
        rows[seven_b.key] = {**row, "stand_in_seconds": made}
        print_row(seven_b.name + (" (tiny stand-in)" if tiny else ""), row, flops(seven_b, seven_config), peak)
        shutil.rmtree(out / "stand-in-7b", ignore_errors=True)  # 13 GB of random weights
        if row["result"] == "ok":
            recipe = yaml.safe_load((ROOT / "recipes/configs" / seven_b.recipe).read_text())
            print(f"\n{paper_hours(row, recipe['global_batch_size'])}; its random-weight stand-in "
                  f"was written in {made:.0f} s", flush=True)

    (out / "gpu_check.json").write_text(json.dumps(rows, indent=2) + "\n")
    failed = {key: row for key, row in rows.items() if not row["result"].startswith(("ok", "skipped"))}
    for key, row in failed.items():
        if "log" in row:
            print(f"\n--- {key}\n{row['log']}", file=sys.stderr)
    skipped = [key for key, row in rows.items() if row["result"].startswith("skipped: needs")]
    print(f"\n{len(rows) - len(failed) - len(skipped)} of {len(rows)} stages ok"
          + (f"; not ok: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed or skipped else 0


if __name__ == "__main__":
    sys.exit(main())
