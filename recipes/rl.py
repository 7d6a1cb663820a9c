"""RL with the trained reward model (beyond the paper: the RLHF loop its reward model was built for), over TRL's
GRPOTrainer or RLOOTrainer.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/rl.py \
        --config recipes/configs/rl/smollm2-135m_grpo_cpu.yaml [--max_steps 2 ...]
    make rl RECIPE=recipes/configs/rl/llama-7b_grpo_ddp.yaml ACCELERATE=accelerate_configs/ddp.yaml

- Config, model, launching, resuming, saving, merging, pushing (once, at the end) and errors as in recipes/sft.py;
  `algorithm: grpo | rloo` picks the trainer, and its config class (GRPOConfig or RLOOConfig) the keys the YAML may
  hold.
- Policy: start from an SFT model of this repo, so that policy, prompts and reward model share the Alpaca template.
- Reward: `reward_model_path`, a model saved by recipes/reward.py (full, LoRA or QLoRA), scoring each completion
  as it was trained to (gpt4llm.reward.RewardModel: prompt + completion + EOS with the tokenizer's special tokens).
  TRL's own loader for a reward model path would score without BOS and EOS, and a LoRA reward model not at all.
  A QLoRA reward model is scored over its base unquantized (bf16 on a GPU), not in 4 bits.
- Data: Alpaca records; each instruction (with its input) in the Alpaca template is a prompt; outputs are unused.
- Each prompt gets `num_generations` completions, each scored against the others of its group (GRPO: reward minus
  the group mean, over its std; RLOO: minus the mean of the others). per_device_train_batch_size counts
  completions: global batch = processes x per-device batch x accumulation, a multiple of num_generations.
- KL penalty against the starting (SFT) policy: `beta`, a per-token KL estimate in the loss (GRPO) or subtracted
  from the reward (RLOO). With LoRA the reference is the base with the adapter switched off: no second copy.
- A completion cut at `max_completion_length` (no EOS) is not given to the reward model, which would read it as a
  finished answer: it is unscored (zero advantage, out of its group's baseline) or gets `cut_off_reward`, and
  `mask_truncated_completions: true` (both recipes) keeps it out of the loss.
- The reward model's score of every logging step (mean and std over its scored completions; null where every
  completion was cut off), the KL, the completion length and the share of completions cut off (`clipped_ratio`)
  go to output_dir/reward_curve.json; the first and last logged mean scores to train_results.json and the card.
"""

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from datasets import Dataset
from transformers import AutoTokenizer
from trl import GRPOConfig, GRPOTrainer, ModelConfig, RLOOConfig, RLOOTrainer, get_peft_config, get_quantization_config

from gpt4llm import lm_head, training
from gpt4llm.data import DataError, alpaca_rows, load_records
from gpt4llm.files import write_json_atomic
from gpt4llm.models import resolve_model
from gpt4llm.publish import hyperparameters
from gpt4llm.reward import RewardModel
from gpt4llm.templates import alpaca_prompt

logger = logging.getLogger("rl")
ALGORITHMS = {"grpo": (GRPOConfig, GRPOTrainer), "rloo": (RLOOConfig, RLOOTrainer)}
# each logging step's reward-model score (RLOO's own "reward" has the KL penalty subtracted), in reward_curve.json
CURVE = {"reward": "rewards/reward_model/mean", "reward_std": "rewards/reward_model/std", "kl": "kl",
         "completion_length": "completions/mean_length", "clipped_ratio": "completions/clipped_ratio"}
RL_FIELDS = ("beta", "num_generations", "max_completion_length", "temperature")  # in the card beside the common ones


@dataclass
class RLScriptArguments(training.RecipeArguments):
    algorithm: str = field(default="grpo", metadata={"help": "The trainer: grpo or rloo.", "choices": [*ALGORITHMS]})
    reward_model_path: str | None = field(default=None, metadata={"help": "A reward model from recipes/reward.py."})
    reward_batch_size: int = field(default=8, metadata={"help": "Completions the reward model scores at once."})
    cut_off_reward: float | None = field(
        default=None,
        metadata={"help": "The reward of a completion cut at max_completion_length (it never reached EOS), instead of "
                          "the reward model's score of a text it was never trained to see unfinished; none: unscored, "
                          "i.e. left out of its group's baseline with zero advantage."},
    )
    dataset_limit: int | None = field(default=None, metadata={"help": "Prompts from the first N records only."})
    merge_adapters: bool = field(default=False, metadata={"help": "Also save LoRA merged into the base model."})


def config_classes(argv: list[str]) -> tuple:
    """The dataclasses to parse into: `algorithm` (command line over YAML, as TrlParser says) picks the config."""
    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    early.add_argument("--algorithm")
    early.add_argument("--config")
    given, _ = early.parse_known_args(argv)
    algorithm = given.algorithm
    if algorithm is None and given.config and Path(given.config).is_file():  # a missing one is TrlParser's to report
        algorithm = (yaml.safe_load(Path(given.config).read_text()) or {}).get("algorithm")
    if (algorithm or "grpo") not in ALGORITHMS:
        sys.exit(f"error: algorithm {algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
    return RLScriptArguments, ALGORITHMS[algorithm or "grpo"][0], ModelConfig


class UnscoredIsIntended(logging.Filter):
    """TRL warns, with the whole prompt and completion, whenever every reward function returned None for a
    completion; here that is the rule for a cut-off completion (logged as clipped_ratio), not a mistake."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "All reward functions returned None" not in record.getMessage()


def finite(value: float) -> float | None:
    """A logged value, or None (JSON null) where it is NaN: a step whose completions were all cut off has no mean
    reward-model score."""
    return None if value != value else value


def prompts_of(records) -> list[str]:
    """The Alpaca prompt of every record with an instruction (outputs unused); a record without one is an error."""
    rows = [row for row in alpaca_rows(records, require_output=False) if row["instruction"].strip()]
    if not rows:
        raise DataError(f"{records.source}: every record has a blank instruction")
    return [alpaca_prompt(row["instruction"], row["input"]) for row in rows]


def main(script_args: RLScriptArguments, training_args, model_args: ModelConfig, recipe: str | None):
    # Policy, tokenizer and reward model (checked to be one before anything is trained)
    if script_args.reward_model_path is None:
        raise training.RecipeError(f"{recipe or 'command line'}: no reward_model_path (recipes/reward.py saves one)")
    model_path = resolve_model(model_args.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path, revision=model_args.model_revision)  # TRL left-pads prompts
    hub = training.prepare(script_args, training_args, model_args, recipe)  # push_to_hub: once, at the end
    scorer = RewardModel.from_pretrained(script_args.reward_model_path, batch_size=script_args.reward_batch_size)
    if training_args.beta == 0:
        logger.warning("beta 0: no KL penalty, the policy may drift from the SFT model to exploit the reward model")

    def reward_model(prompts: list[str], completions: list[str], completion_ids: list[list[int]], **_) -> list:
        # a completion that stopped before the limit ended on a stop token (TRL cuts the rest); one that filled the
        # limit without EOS was cut off, and the reward model would read it as finished (it appends EOS)
        finished = [len(ids) < training_args.max_completion_length or tokenizer.eos_token_id in ids
                    for ids in completion_ids]
        texts = [prompt + completion for prompt, completion, done in zip(prompts, completions, finished) if done]
        scores = iter(scorer.score_texts(texts) if texts else [])
        return [next(scores) if done else script_args.cut_off_reward for done in finished]

    # Data: Alpaca prompts
    records = load_records(
        script_args.dataset_name, split=script_args.dataset_train_split, config=script_args.dataset_config
    )
    prompts = prompts_of(records)[: script_args.dataset_limit]
    logger.info("%d prompts from %s, %d completions each", len(prompts), script_args.dataset_name,
                training_args.num_generations)

    # Train, resuming from the newest checkpoint if an earlier run stopped
    trainer_class = ALGORITHMS[script_args.algorithm][1]
    if script_args.cut_off_reward is None:
        logging.getLogger(trainer_class.__module__).addFilter(UnscoredIsIntended())
    trainer = trainer_class(
        model=model_path,
        reward_funcs=reward_model,
        args=training_args,
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
    )
    lm_head.use_on_cpu(trainer)  # TRL's fused LM head is GPU-made: 3x slower on a CPU (gpt4llm/lm_head.py)
    result = training.train(trainer, training_args)
    logs = [log for log in trainer.state.log_history if CURVE["reward"] in log]
    curve = [{"step": log["step"], **{k: finite(log[v]) for k, v in CURVE.items() if v in log}} for log in logs]
    scored = [point for point in curve if point["reward"] is not None]
    rewards = {}
    if scored:
        rewards = {"reward_first": scored[0]["reward"], "reward_last": scored[-1]["reward"],
                   "logged_steps": len(curve)}
        rewards |= {"kl_last": curve[-1]["kl"]} if "kl" in curve[-1] else {}  # logged where beta > 0
        logger.info("mean reward %.4f at step %d, %.4f at step %d", rewards["reward_first"], scored[0]["step"],
                    rewards["reward_last"], scored[-1]["step"])
    result.metrics.update(rewards)
    training.save_train_metrics(trainer, result)

    # Save the weights (gathered across ranks); then, from the main process, tokenizer, curve, merge, card and push
    training.save(trainer, training_args.output_dir)
    if trainer.accelerator.is_main_process:
        write_json_atomic(Path(training_args.output_dir) / training.REWARD_CURVE, curve)
        folders = training.save_tokenizer_and_merge(tokenizer, training_args, model_args, script_args.merge_adapters)
        card = dict(
            base_model=model_args.model_name_or_path,
            dataset=script_args.dataset_name,
            data_notes=[f"Reward model: `{script_args.reward_model_path}` (scores in reward_curve.json)."],
            recipe=recipe,
            trainer=trainer_class.__name__,
            hyperparameters=hyperparameters(training_args, model_args, trainer.accelerator.num_processes)
            | {k: getattr(training_args, k) for k in RL_FIELDS},
            metrics={"train_loss": result.training_loss, "global_step": result.global_step, "prompts": len(prompts)}
            | rewards,
            tags=[script_args.algorithm, "rlhf", "llama-gpt4"],
        )
        message = f"RL with {recipe or 'recipes/rl.py'}"
        training.publish(folders, card=card, hub=hub, message=message)
    training.finish(trainer)


if __name__ == "__main__":
    training.run(main, config_classes(sys.argv[1:]))
