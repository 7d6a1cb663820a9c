"""Publishing trained models: a card that says how the model was made (base model, data, recipe,
hyperparameters, results), and the upload to the Hub.

Only fields chosen here are written, so tokens and other secrets in the training arguments never reach a card.
"""

import importlib.metadata
import json
import logging
from enum import Enum
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from .models import embedded_source, is_embedded

logger = logging.getLogger(__name__)

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


# Not pushed: checkpoints (optimizer and trainer state), the merged copy (pushed instead of its adapter folder, never
# beside it), TensorBoard logs, and training_args.bin (a pickle of every training argument)
NOT_PUSHED = ["checkpoint-*/", "merged/", "runs/", "training_args.bin"]


def hub_error(error: Exception) -> str:
    """A Hub error in one line: huggingface_hub puts the request id and the server's details on the lines below."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def create_hub_repo(repo_id: str, *, private: bool | None) -> str:
    """Create the model repository unless it exists (`private` applies only to a new one); returns its full id
    (`namespace/name`, the token's user for a bare name). The token is huggingface_hub's own (HF_TOKEN, where the
    recipes put `hub_token`, else the saved login)."""
    from huggingface_hub import HfApi

    return HfApi().create_repo(repo_id, private=private, exist_ok=True).repo_id


def push_folder(folder: str, *, repo_id: str, private: bool | None, message: str, adapter_base: str | None = None,
                adapter_base_revision: str | None = None) -> str:
    """Upload a saved model (weights, tokenizer, card; not NOT_PUSHED) to the Hub in one commit, which also deletes
    the repository's files the folder does not hold (but .gitattributes): an earlier push's adapter_config.json
    beside merged weights would make transformers load that adapter over its base instead. With `adapter_base`, the
    pushed adapter_config.json names it (and its revision) as the base, in place of the local path training used;
    the file on disk is left as it is, for local loading. Returns the commit's URL."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

    api = HfApi()
    repo_id = create_hub_repo(repo_id, private=private)
    root = Path(folder)
    files = sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())
    additions = []
    for name in filter_repo_objects(files, ignore_patterns=[*NOT_PUSHED, *DEFAULT_IGNORE_PATTERNS]):
        content: Path | bytes = root / name
        if name == "adapter_config.json" and adapter_base is not None:
            config = json.loads(content.read_text()) | {"base_model_name_or_path": adapter_base,
                                                        "revision": adapter_base_revision}
            content = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
        additions.append(CommitOperationAdd(path_in_repo=name, path_or_fileobj=content))
    pushed = {addition.path_in_repo for addition in additions}
    stale = [name for name in api.list_repo_files(repo_id) if name not in pushed and name != ".gitattributes"]
    if stale:
        logger.info("deleting from %s what %s does not hold: %s", repo_id, folder, ", ".join(stale))
    operations = [*(CommitOperationDelete(path_in_repo=name) for name in stale), *additions]
    return api.create_commit(repo_id, operations, commit_message=message).commit_url


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
