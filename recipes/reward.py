"""Reward model on teacher-rated comparisons (the paper's OPT-1.3B), over TRL's RewardTrainer.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/reward.py \
        --config recipes/configs/reward/smollm2-135m_lora_cpu.yaml [--max_steps 2 ...]
    make reward RECIPE=recipes/configs/reward/opt-1.3b_full.yaml ACCELERATE=accelerate_configs/ddp.yaml

- Config, model, data sources, launching, resuming and errors as in recipes/sft.py.
- Data: the released comparison_data_v2 (`release:comparison_v2`), its v1, or chosen/rejected pairs (see
  gpt4llm/preferences.py). K scored responses to a prompt give the C(K,2) pairs whose scores differ; the prompt
  is the Alpaca template SFT trains on. Loss: -log sigmoid(r(x, y_h) - r(x, y_l)), minus the score difference
  inside the sigmoid with `use_margin`.
- A share of the prompts (`eval_fraction`) is held out, all pairs of a prompt on one side; the pairwise
  accuracy on it is printed, written to output_dir/eval_results.json and put in the model card.
- `grouped: true` runs each response of a prompt through the model once for all its pairs (GroupedRewardTrainer,
  same loss per pair); a batch is then per_device_train_batch_size prompts instead of pairs.
- LoRA reward models need `lora_task_type: SEQ_CLS`, which trains and saves the score head with the adapter; the
  adapter merged into its base is saved in output_dir/merged (a one-label sequence classifier that loads with
  AutoModelForSequenceClassification, as the card's snippet shows) and is what `push_to_hub` uploads, once, at the
  end, in one commit with its tokenizer and card (never the adapter; the Trainer's own pushes are off).
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoTokenizer
from trl import ModelConfig, RewardConfig, RewardTrainer, get_peft_config, get_quantization_config

from gpt4llm import training
from gpt4llm.data import load_records
from gpt4llm.files import write_json_atomic
from gpt4llm.models import resolve_model
from gpt4llm.preferences import preference_groups, preference_pairs, split_by_prompt
from gpt4llm.publish import hyperparameters
from gpt4llm.reward import GroupedRewardTrainer, RewardModel, pairs_within

logger = logging.getLogger("reward")


@dataclass
class RewardScriptArguments(training.RecipeArguments):
    eval_fraction: float = field(default=0.1, metadata={"help": "Share of prompts held out for pairwise accuracy."})
    use_margin: bool = field(default=False, metadata={"help": "Subtract the score difference inside the loss."})
    grouped: bool = field(default=False,
                          metadata={"help": "One pass per response for all its pairs; batches count prompts."})


CONFIG_CLASSES = (RewardScriptArguments, RewardConfig, ModelConfig)
# The card's snippet: a reward for a response to an Alpaca prompt, read as training read it (prompt + response + EOS)
USAGE = """\
from transformers import AutoModelForSequenceClassification, AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained("{model}")
model = AutoModelForSequenceClassification.from_pretrained("{model}")
reward = model(**tokenizer(prompt + response + tokenizer.eos_token, return_tensors="pt")).logits[0, 0].item()
"""


def main(script_args: RewardScriptArguments, training_args: RewardConfig, model_args: ModelConfig, recipe: str | None):
    # Model and tokenizer
    if model_args.use_peft and model_args.lora_task_type != "SEQ_CLS":
        raise training.RecipeError("a LoRA reward model needs lora_task_type: SEQ_CLS, "
                                  "or its score head is never trained")
    model_path = resolve_model(model_args.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path, revision=model_args.model_revision)
    hub = training.prepare(script_args, training_args, model_args, recipe)  # push_to_hub: once, at the end

    # Data: pairs from scored responses, split by prompt
    records = load_records(script_args.dataset_name, split=script_args.dataset_train_split,
                           config=script_args.dataset_config)
    pairs, _ = preference_pairs(records)
    train_dataset, eval_dataset = split_by_prompt(pairs, script_args.eval_fraction, training_args.seed)
    if script_args.grouped:
        trainer_class, trainer_kwargs, train_rows = (GroupedRewardTrainer, {"use_margin": script_args.use_margin},
                                                     preference_groups(train_dataset))
    else:
        trainer_class, trainer_kwargs = RewardTrainer, {}
        train_rows = train_dataset if script_args.use_margin else train_dataset.remove_columns("margin")

    # Train, resuming from the newest checkpoint if an earlier run stopped
    trainer = trainer_class(
        model=model_path,
        args=training_args,
        train_dataset=train_rows,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
        **trainer_kwargs,
    )
    if len(trainer.train_dataset) < len(train_rows):
        logger.info("dropped %d training rows longer than max_length", len(train_rows) - len(trainer.train_dataset))
    result = training.train(trainer, training_args)
    training.save_train_metrics(trainer, result)

    # Save; then, with the training copy released, measure held-out pairwise accuracy with the saved model, loaded
    # as users load it (same dtype and quantization): a second 7B copy beside the first would not fit one GPU
    training.save(trainer, training_args.output_dir)
    is_main, world_size = trainer.accelerator.is_main_process, trainer.accelerator.num_processes
    training.finish(trainer)
    training.release(trainer)
    if is_main:
        if training_args.max_length is not None:  # saved with the model: scoring reads what training read
            tokenizer.model_max_length = training_args.max_length
        folders = training.save_tokenizer_and_merge(tokenizer, training_args, model_args, merge=True)
        metrics = {"train_loss": result.training_loss, "global_step": result.global_step,
                   "train_pairs": len(train_dataset)}
        held_out = pairs_within(eval_dataset, tokenizer, training_args.max_length) if eval_dataset is not None else []
        if len(held_out):
            scorer = RewardModel.from_pretrained(
                training_args.output_dir, dtype=model_args.dtype,
                quantization_config=get_quantization_config(model_args),
            )
            metrics |= {"eval_pairs": len(held_out), "eval_pairwise_accuracy": scorer.pairwise_accuracy(held_out)}
            logger.info("held-out pairwise accuracy %.4f on %d pairs (%d longer than max_length left out, "
                        "as in training)", metrics["eval_pairwise_accuracy"], len(held_out),
                        len(eval_dataset) - len(held_out))
        write_json_atomic(Path(training_args.output_dir) / "eval_results.json", metrics)
        card = dict(
            base_model=model_args.model_name_or_path,
            dataset=script_args.dataset_name,
            recipe=recipe,
            trainer=trainer_class.__name__,
            hyperparameters=hyperparameters(training_args, model_args, world_size),
            metrics=metrics,
            tags=["reward-model", "llama-gpt4"],
            usage=USAGE.format(model=hub.repo_id if hub else folders[-1]),
        )
        message = f"Reward model with {recipe or 'recipes/reward.py'}"
        training.publish(folders, card=card, hub=hub, message=message)


if __name__ == "__main__":
    training.run(main, CONFIG_CLASSES)
