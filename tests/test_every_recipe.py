"""Every shipped recipe YAML runs through its script to its saved output, on the CPU, with as little changed as
a CPU and no download require: a tiny random stand-in of the recipe's architecture (tests/stand_ins.py), small
files in the recipe's data schema, the output directory, 2 optimizer steps, use_cpu, and, for a recipe written
for several GPUs, the per-device batch that gives its global batch on one process. Everything else runs as
written: report_to, dtype, LoRA/QLoRA, grouped reward batches, held-out scoring, the merge, the card.

Each launcher in accelerate_configs/ is parsed by accelerate, and gives each recipe that names it its global batch.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_recipe
from stand_ins import alpaca_records, comparison_records, write_json

pytestmark = pytest.mark.slow
CONFIGS = sorted((ROOT / "recipes" / "configs").rglob("*.yaml"))
LAUNCHERS = sorted((ROOT / "accelerate_configs").glob("*.yaml"))

# The recipe's model -> the stand-in fixture of its architecture. A recipe naming another model fails below.
STAND_INS = {
    "huggyllama/llama-7b": "llama_dir",
    "outputs/llama-gpt4-7b": "llama_dir",  # LLaMA-GPT4, the SFT recipe's output
    "facebook/opt-1.3b": "opt_dir",
    "embedded:smollm2-135m-instruct": "tiny_model_dir",
    # an RL recipe's reward model is a model too: a reward.py output of the same architecture
    "outputs/smollm2-135m-reward-demo": "tiny_reward_dir",  # reward/smollm2-135m_lora_cpu.yaml's (LoRA)
    "outputs/opt-1.3b-reward": "opt_reward_dir",  # reward/opt-1.3b_full.yaml's (full)
}
# Registered (downloaded) data -> records the project writes in the same schema; local files run as they are.
STAND_IN_DATA = {
    "release:alpaca_gpt4_en": lambda: alpaca_records(256),
    "release:alpaca_gpt4_zh": lambda: alpaca_records(256, lang="zh"),
    "release:comparison_v2": lambda: comparison_records(80),
}
# What a CPU cannot run as written, {key: {value: (replacement, reason)}}: nothing today, since bitsandbytes 0.50
# runs its 4-bit layers and its paged 8-bit AdamW on a CPU too. A setting that needs CUDA goes here, with why.
CPU_ONLY: dict[str, dict[str, tuple[str, str]]] = {}
# The only keys a stand-in run may change, with the CPU_ONLY ones.
CHANGED = {"model_name_or_path", "dataset_name", "output_dir", "max_steps", "use_cpu", "per_device_train_batch_size",
           "reward_model_path"}


def launcher_of(config: Path) -> Path:
    first = config.read_text().splitlines()[0]
    return ROOT / (
        first.split("ACCELERATE=")[1].split()[0] if "ACCELERATE=" in first else "accelerate_configs/cpu.yaml"
    )


def processes(launcher: Path) -> int:
    return yaml.safe_load(launcher.read_text())["num_processes"]


def stand_in_overrides(config: Path, recipe: dict, model: str, data_dir: Path, output_dir: Path) -> dict:
    overrides = {"model_name_or_path": model, "output_dir": str(output_dir), "max_steps": 2}
    if not recipe.get("use_cpu"):
        overrides["use_cpu"] = True
    if recipe["dataset_name"] in STAND_IN_DATA:
        name = recipe["dataset_name"].removeprefix("release:")
        overrides["dataset_name"] = write_json(data_dir / f"{name}.json", STAND_IN_DATA[recipe["dataset_name"]]())
    if processes(launcher_of(config)) != 1:  # the global batch on one process instead of the launcher's several
        overrides["per_device_train_batch_size"] = recipe["global_batch_size"] // recipe.get(
            "gradient_accumulation_steps", 1
        )
    for key, replacements in CPU_ONLY.items():
        if recipe.get(key) in replacements:
            overrides[key] = replacements[recipe[key]][0]
    return overrides


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.relative_to(ROOT / "recipes/configs").as_posix())
def test_recipe_runs_to_its_saved_output(config, tmp_path, request):
    recipe = yaml.safe_load(config.read_text())
    assert recipe["model_name_or_path"] in STAND_INS, f"{config}: add a stand-in for {recipe['model_name_or_path']}"
    model = request.getfixturevalue(STAND_INS[recipe["model_name_or_path"]])
    out = tmp_path / "out"
    overrides = stand_in_overrides(config, recipe, model, tmp_path, out)
    if "reward_model_path" in recipe:
        assert recipe["reward_model_path"] in STAND_INS, f"{config}: add a stand-in for {recipe['reward_model_path']}"
        overrides["reward_model_path"] = request.getfixturevalue(STAND_INS[recipe["reward_model_path"]])
    assert set(overrides) <= CHANGED | set(CPU_ONLY), sorted(overrides)
    assert all(overrides[key] != recipe.get(key) for key in overrides)  # nothing "overridden" to what it was

    flags = [item for key, value in overrides.items() for item in (f"--{key}", str(value))]
    script = f"recipes/{config.parent.name}.py"
    result = run_recipe(
        script, "--config", str(config), *flags, accelerate_config=str(ROOT / "accelerate_configs/cpu.yaml")
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Traceback" not in result.stderr

    weights = "adapter_model.safetensors" if recipe.get("use_peft") else "model.safetensors"
    assert (out / weights).is_file() and (out / "tokenizer_config.json").is_file()
    assert json.loads((out / "train_results.json").read_text())["train_runtime"] > 0
    card = (out / "README.md").read_text()
    assert Path(config).name in card and "| global_batch_size |" in card
    if recipe.get("merge_adapters"):
        assert (out / "merged" / "model.safetensors").is_file() and (out / "merged" / "README.md").is_file()
    if config.parent.name == "reward":
        metrics = json.loads((out / "eval_results.json").read_text())
        assert metrics["eval_pairs"] > 0 and 0 <= metrics["eval_pairwise_accuracy"] <= 1
    if config.parent.name == "rl":
        curve = json.loads((out / "reward_curve.json").read_text())
        assert [entry["step"] for entry in curve] == list(range(1, 3))
        assert all(0 <= entry["clipped_ratio"] <= 1 for entry in curve)
        # a random stand-in policy seldom reaches EOS: only steps with a finished completion have a reward
        assert ("reward_last" in card) == any(entry["reward"] is not None for entry in curve)
    if recipe.get("report_to") == "tensorboard":
        assert list(out.glob("runs/*/events.out.tfevents.*")), "no TensorBoard events were written"


@pytest.mark.parametrize("launcher", LAUNCHERS, ids=lambda p: p.name)
def test_accelerate_parses_every_launcher(launcher):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(launcher))  # unknown top-level keys raise here
    assert config.num_processes >= 1 and config.distributed_type


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.relative_to(ROOT / "recipes/configs").as_posix())
def test_each_recipes_launcher_gives_its_global_batch(config):
    recipe = yaml.safe_load(config.read_text())
    if "global_batch_size" not in recipe:  # a CPU demo recipe's batch is for a quick run, not for a result
        assert launcher_of(config).name == "cpu.yaml", f"{config}: a recipe for GPUs states its global_batch_size"
        return
    per_step = recipe["per_device_train_batch_size"] * recipe.get("gradient_accumulation_steps", 1)
    assert per_step * processes(launcher_of(config)) == recipe["global_batch_size"], launcher_of(config).name


def test_a_launch_with_another_global_batch_stops_with_the_accumulation_to_use(tmp_path, llama_dir):
    """The 8-GPU paper recipe on 2 processes with its per-device batch of 4: 2 x 4 x 4 = 32, not 128."""
    config = ROOT / "recipes/configs/sft/llama-7b_full_en.yaml"
    result = run_recipe(
        "recipes/sft.py", "--config", str(config), "--model_name_or_path", llama_dir,
        "--output_dir", str(tmp_path / "out"),
        "--use_cpu", "true", accelerate_config=str(ROOT / "accelerate_configs/fsdp_cpu_2proc.yaml"),
    )
    assert result.returncode != 0
    expected = (f"error: {config}: global batch 32 = 2 processes x 4 per device x 4 accumulation steps, but the "
                "recipe's global_batch_size is 128; run with --gradient_accumulation_steps 16")
    assert result.stderr.splitlines().count(expected) == 1, result.stderr[-3000:]  # said once, by the main process
    assert not (tmp_path / "out").exists()


def test_slurm_script_derives_the_accumulation_from_the_recipe(tmp_path):
    """multinode_slurm.sbatch with stand-ins for srun, scontrol and accelerate: 2 nodes x 8 GPUs run the paper
    recipe with half its accumulation steps, so the global batch stays 128."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {"srun": 'while [[ $1 == --* ]]; do shift; done; SLURM_PROCID=0 exec "$@"',
             "scontrol": "printf 'node-a\\nnode-b\\n'",
             "accelerate": f'printf "%s\\n" "$@" > {tmp_path}/accelerate_args'}
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    # the training environment activated, as the script assumes
    path = f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "SLURM_NNODES": "2", "SLURM_JOB_ID": "4242",
           "SLURM_JOB_NODELIST": "node-[a-b]", "SLURM_SUBMIT_DIR": str(ROOT)}
    recipe = "recipes/configs/sft/llama-7b_full_en.yaml"
    script = str(ROOT / "accelerate_configs/multinode_slurm.sbatch")
    subprocess.run(["bash", script, recipe, "--max_steps", "2"], env=env, check=True, capture_output=True, text=True)
    args = (tmp_path / "accelerate_args").read_text().splitlines()
    assert args[args.index("--num_processes") + 1] == "16" and args[args.index("--main_process_ip") + 1] == "node-a"
    assert args[args.index("--gradient_accumulation_steps") + 1] == "2"  # 128 / (16 processes x 4 per device)
    assert args[-2:] == ["--max_steps", "2"] and args[args.index("--config") + 1] == recipe
