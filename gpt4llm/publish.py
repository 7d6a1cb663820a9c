"""Publishing trained models: a card that says how the model was made (base model, data, recipe,
hyperparameters, results), and the upload to the Hub.

Only fields chosen here are written, so tokens and other secrets in the training arguments never reach a card.
"""

import importlib.metadata
from enum import Enum
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from .models import embedded_source, is_embedded

TRAINING_FIELDS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_length",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "optim",
    "bf16",
    "packing",
    "completion_only_loss",
    "activation_checkpointing",
    "seed",
)
MODEL_FIELDS = ("dtype", "use_peft", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "load_in_4bit")


def hyperparameters(training_args, model_args, world_size: int) -> dict:
    values = {f: getattr(training_args, f) for f in TRAINING_FIELDS if hasattr(training_args, f)}
    values = {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}
    values |= {f: getattr(model_args, f) for f in MODEL_FIELDS}
    values["world_size"] = world_size
    values["global_batch_size"] = (
        training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * world_size
    )
    return values


def write_model_card(
    output_dir: str,
    *,
    base_model: str,
    dataset: str,
    recipe: str | None,
    trainer: str,
    hyperparameters: dict,
    metrics: dict,
    tags: list[str],
    data_notes: list[str] = (),
    usage: str | None = None,
) -> Path:
    hub_base = embedded_source(base_model) if is_embedded(base_model) else base_model
    hub_dataset = None if Path(dataset).exists() or ":" in dataset else dataset
    data = ModelCardData(
        base_model=hub_base if not Path(hub_base).exists() else None,
        datasets=[hub_dataset] if hub_dataset else None,
        library_name="transformers",
        tags=["gpt4llm", "trl", *tags],
    )
    versions = {name: importlib.metadata.version(name) for name in ("trl", "transformers", "peft", "torch")}
    lines = [
        f"# {Path(output_dir).name}",
        "",
        f"Fine-tuned from `{base_model}`"
        + (f" (`{hub_base}`)" if hub_base != base_model else "")
        + f" on `{dataset}`",
        f"with TRL's `{trainer}`, following the paper *Instruction Tuning with GPT-4* (Peng et al., 2023).",
        "",
        *(line for note in data_notes for line in (note, "")),
        *(["## Usage", "", "```python", usage.strip(), "```", ""] if usage else []),
        "## Recipe",
        "",
        f"`{recipe}`" if recipe else "(command-line arguments only)",
        "",
        "## Hyperparameters",
        "",
        "| name | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in hyperparameters.items()),
        "",
        "## Results",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()),
        "",
        "## Framework versions",
        "",
        *(f"- {k} {v}" for k, v in versions.items()),
        "",
    ]
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))
    path = Path(output_dir) / "README.md"
    card.save(path)
    return path


def push_folder(folder: str, *, repo_id: str, private: bool | None, message: str) -> str:
    """Upload a saved model (weights, tokenizer, card; not the checkpoints) to the Hub; returns the repo URL. The
    token is huggingface_hub's own (HF_TOKEN, where the recipes put `hub_token`, else the saved login)."""
    from huggingface_hub import HfApi

    api = HfApi()
    repo = api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(
        repo_id=repo.repo_id, folder_path=folder, commit_message=message, ignore_patterns=["checkpoint-*", "merged"]
    )
    return repo.url


def merge_adapter(adapter_dir: str, dtype: str, *, pad_token_id: int | None = None) -> str:
    """Reload the base in full precision (also after QLoRA), fold the adapter in, save to adapter_dir/merged.

    A causal LM adapter gives a causal LM; a SEQ_CLS adapter (a reward model) gives a one-label sequence classifier
    whose config carries `pad_token_id` (the id training padded with), so that AutoModelForSequenceClassification
    reads each score where training did."""
    from peft import AutoPeftModelForCausalLM, AutoPeftModelForSequenceClassification, PeftConfig

    merged_dir = str(Path(adapter_dir) / "merged")
    load = {"dtype": "float32" if dtype == "auto" else dtype}
    if PeftConfig.from_pretrained(adapter_dir).task_type == "SEQ_CLS":
        model = AutoPeftModelForSequenceClassification.from_pretrained(adapter_dir, num_labels=1, **load)
        model = model.merge_and_unload()
        model.config.pad_token_id = pad_token_id
    else:
        model = AutoPeftModelForCausalLM.from_pretrained(adapter_dir, **load).merge_and_unload()
    model.save_pretrained(merged_dir)
    return merged_dir
