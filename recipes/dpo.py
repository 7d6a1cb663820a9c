"""DPO on teacher-rated comparisons (beyond the paper: the same pairs the reward model learns from, used to
tune the policy directly), over TRL's DPOTrainer.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/dpo.py \
        --config recipes/configs/dpo/smollm2-135m_lora_cpu.yaml [--max_steps 2 ...]
    make dpo RECIPE=recipes/configs/dpo/llama-7b_qlora_single_gpu.yaml ACCELERATE=accelerate_configs/single_gpu.yaml

- Config, model, data sources, launching, resuming, saving, pushing (once, at the end) and errors as in
  recipes/sft.py.
- Data: the pairs of recipes/reward.py (gpt4llm/preferences.py), prompts in the Alpaca template SFT trains on;
  start from an SFT model of this repo so that policy and data share that template.
- With LoRA the reference model is the base itself (the adapter switched off), so no second copy is loaded.
- A share of the prompts (`eval_fraction`) is held out; DPO's reward accuracy on it goes in the model card.
"""

from dataclasses import dataclass, field

from transformers import AutoTokenizer
from trl import DPOConfig, ModelConfig, get_peft_config, get_quantization_config

from gpt4llm import lm_head, training
from gpt4llm.data import load_records
from gpt4llm.dpo import PretokenizedDPOTrainer, tokenize_pairs
from gpt4llm.models import resolve_model
from gpt4llm.preferences import preference_pairs, split_by_prompt
from gpt4llm.publish import hyperparameters


@dataclass
class DPOScriptArguments(training.RecipeArguments):
    eval_fraction: float = field(default=0.1, metadata={"help": "Share of prompts held out for evaluation."})
    merge_adapters: bool = field(default=False, metadata={"help": "Also save LoRA merged into the base model."})


CONFIG_CLASSES = (DPOScriptArguments, DPOConfig, ModelConfig)


def main(script_args: DPOScriptArguments, training_args: DPOConfig, model_args: ModelConfig, recipe: str | None):
    # Model and tokenizer
    model_path = resolve_model(model_args.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path, revision=model_args.model_revision)
    hub = training.prepare(script_args, training_args, model_args, recipe)  # push_to_hub: once, at the end

    # Data: the reward model's pairs, split by prompt
    records = load_records(script_args.dataset_name, split=script_args.dataset_train_split,
                           config=script_args.dataset_config)
    pairs, _ = preference_pairs(records)
    train_dataset, eval_dataset = split_by_prompt(pairs, script_args.eval_fraction, training_args.seed)
    # tokenized as generation sees them: the prompt alone, then each response (gpt4llm/dpo.py)
    train_rows = tokenize_pairs(train_dataset, tokenizer)
    eval_rows = tokenize_pairs(eval_dataset, tokenizer) if eval_dataset is not None else None

    # Train, resuming from the newest checkpoint if an earlier run stopped
    trainer = PretokenizedDPOTrainer(
        model=model_path,
        args=training_args,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
    )
    lm_head.use_on_cpu(trainer)  # TRL's fused LM head is GPU-made: 3x slower on a CPU (gpt4llm/lm_head.py)
    result = training.train(trainer, training_args)
    training.save_train_metrics(trainer, result)
    metrics = {"train_loss": result.training_loss, "global_step": result.global_step,
               "train_pairs": len(train_dataset)}
    if eval_dataset is not None:
        metrics |= {k: v for k, v in trainer.evaluate().items()
                    if k in ("eval_loss", "eval_rewards/accuracies", "eval_rewards/margins")}

    # Save the weights (gathered across ranks); then, from the main process, tokenizer, merge, card and push
    training.save(trainer, training_args.output_dir)
    if trainer.accelerator.is_main_process:
        folders = training.save_tokenizer_and_merge(tokenizer, training_args, model_args, script_args.merge_adapters)
        card = dict(
            base_model=model_args.model_name_or_path,
            dataset=script_args.dataset_name,
            recipe=recipe,
            trainer="DPOTrainer",
            hyperparameters=hyperparameters(training_args, model_args, trainer.accelerator.num_processes)
            | {"beta": training_args.beta},
            metrics=metrics,
            tags=["dpo", "llama-gpt4"],
        )
        training.publish(folders, card=card, hub=hub, message=f"DPO with {recipe or 'recipes/dpo.py'}")
    training.finish(trainer)


if __name__ == "__main__":
    training.run(main, CONFIG_CLASSES)
