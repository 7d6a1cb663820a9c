"""Every recipe YAML parses into the dataclasses its script uses, starts with the command that runs it, and
the paper's recipes carry exactly the paper's hyperparameters."""

import importlib.util
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

CONFIGS = sorted((ROOT / "recipes" / "configs").rglob("*.yaml"))


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse(config: Path, *overrides: str):
    """Parse a recipe with the dataclasses of its script: recipes/configs/<script>/... -> recipes/<script>.py."""
    from trl import TrlParser

    script = load_script(config.parent.name)
    # recipes/rl.py's config class follows its `algorithm` (GRPOConfig or RLOOConfig)
    classes = getattr(script, "config_classes", lambda argv: script.CONFIG_CLASSES)(["--config", str(config)])
    parser = TrlParser(classes)
    # TrainingArguments checks bf16 against the hardware it runs on: parse GPU recipes as if for this CPU
    hardware = [] if "use_cpu: true" in config.read_text() else ["--use_cpu", "true"]
    return parser.parse_args_and_config(["--config", str(config), *hardware, *overrides])


def test_there_are_recipes():
    names = {c.relative_to(ROOT / "recipes" / "configs").as_posix() for c in CONFIGS}
    assert {"sft/llama-7b_full_en.yaml", "sft/llama-7b_full_zh.yaml", "sft/smollm2-135m_lora_cpu.yaml"} <= names
    assert {"reward/opt-1.3b_full.yaml", "reward/smollm2-135m_lora_cpu.yaml"} <= names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
def test_recipe_parses_and_starts_with_its_command(config):
    script_args, training_args, model_args = parse(config)
    assert script_args.dataset_name and model_args.model_name_or_path
    first = config.read_text().splitlines()[0]
    relative = config.relative_to(ROOT).as_posix()
    assert first.startswith("# make ") and relative in first or first == f"# make {config.parent.name}"
    launcher = first.split("ACCELERATE=")[1].split()[0] if "ACCELERATE=" in first else "accelerate_configs/cpu.yaml"
    assert (ROOT / launcher).is_file()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
def test_unknown_key_fails(config, tmp_path):
    broken = tmp_path / config.parent.name / config.name  # parsed by the same script as the original
    broken.parent.mkdir()
    broken.write_text(config.read_text() + "max_seq_length: 2048\n")  # the pre-1.0 TRL name, silently lost elsewhere
    with pytest.raises(ValueError, match="max_seq_length"):
        parse(broken)
    with pytest.raises(ValueError, match="warmup_ratio"):
        parse(config, "--warmup_ratio", "0.03")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_paper_recipe_is_the_papers_schedule(language):
    config = ROOT / f"recipes/configs/sft/llama-7b_full_{language}.yaml"
    script_args, args, model_args = parse(config)
    launcher = yaml.safe_load((ROOT / "accelerate_configs/fsdp_8xa100.yaml").read_text())
    assert script_args.dataset_name == f"release:alpaca_gpt4_{language}"
    assert model_args.use_peft is False and model_args.load_in_4bit is False
    assert args.learning_rate == 2e-5 and args.num_train_epochs == 3
    assert script_args.global_batch_size == 128  # and tests/test_every_recipe.py checks every launcher gives it
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps * launcher["num_processes"] == 128
    assert args.max_length == 512 and args.lr_scheduler_type == "cosine"
    assert args.warmup_steps == 0.03 and args.weight_decay == 0.0 and args.bf16
    assert args.completion_only_loss and not args.packing


@pytest.mark.parametrize(
    "config", [c for c in CONFIGS if c.parent.name == "reward" and "use_peft: true" in c.read_text()],
    ids=lambda c: c.name,
)
def test_lora_reward_recipes_train_the_score_head(config):
    assert parse(config)[2].lora_task_type == "SEQ_CLS"


def test_command_line_overrides_yaml():
    _, args, _ = parse(ROOT / "recipes/configs/sft/smollm2-135m_lora_cpu.yaml", "--max_steps", "2")
    assert args.max_steps == 2 and args.learning_rate == 2e-4
