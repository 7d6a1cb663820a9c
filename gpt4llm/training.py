"""The few steps every recipe script (recipes/sft.py, reward.py, dpo.py, rl.py) takes the same way."""

import gc
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub.errors import HfHubHTTPError
from transformers import TrainerCallback, TrainerState
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import TrainOutput, get_last_checkpoint
from trl import ScriptArguments, TrlParser

from .data import DataError
from .models import embedded_source, is_embedded
from .precision import CHOICES, describe_choice, use_bf16
from .publish import create_hub_repo, hub_error, merge_adapter, push_folder, write_model_card

logger = logging.getLogger(__name__)


# What a recipe logs as it enters each phase (bench/gpu_check.py reads them to say where a stopped run was)
PHASES = {"prepare": "preparing the model and data", "train": "training", "finish": "evaluating and saving"}
REWARD_CURVE = "reward_curve.json"  # recipes/rl.py's reward-model score at each logged step, in its output_dir
_recipe_started_at: float | None = None  # set by run(): when the recipe's main began, after its imports


class RecipeError(ValueError):
    """A recipe that cannot run as configured; reported in one line like bad data."""


@dataclass
class RecipeArguments(ScriptArguments):
    """What every recipe adds to TRL's ScriptArguments."""

    global_batch_size: int | None = field(
        default=None,
        metadata={"help": "The recipe's global batch: processes x per-device batch x accumulation must equal it."},
    )
    cpu_precision: str = field(
        default="auto",
        metadata={"help": "On a CPU: auto (bf16 autocast where the CPU computes bf16 natively, else fp32), "
                          "bf16, fp32.",
                  "choices": CHOICES},
    )


def run(main, config_classes: tuple) -> None:
    """Parse `--config YAML` plus command-line overrides into `config_classes` (an unknown key or a bad value
    is a one-line error), then call `main(*configs, recipe=YAML)`; bad data and bad settings exit with status 1
    and one line naming what is wrong."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    recipe = sys.argv[sys.argv.index("--config") + 1] if "--config" in sys.argv else None
    try:
        configs = TrlParser(config_classes).parse_args_and_config()
    except ValueError as error:
        sys.exit(f"error: {recipe or 'command line'}: {error}")
    set_log_levels(configs[1])
    global _recipe_started_at
    _recipe_started_at = time.time()
    logger.info(PHASES["prepare"])
    try:
        main(*configs, recipe=recipe)
    except (DataError, RecipeError) as error:
        # every rank meets the same bad data or setting: one of them says so (8 at once would share lines)
        sys.exit(f"error: {error}" if configs[1].should_log else 1)


def set_log_levels(training_args) -> None:
    """INFO from the main process only: the other ranks log warnings and errors (`log_level_replica`), so that a
    line is printed once on 8 GPUs, not 8 times, and they draw no progress bars."""
    import datasets
    import transformers

    if training_args.should_log:
        return  # INFO for this project's loggers; transformers keeps its own verbosity unless log_level says
    level = training_args.get_process_log_level()
    logging.getLogger().setLevel(level)
    transformers.utils.logging.set_verbosity(level)
    datasets.utils.logging.set_verbosity(level)
    datasets.disable_progress_bars()


@dataclass(frozen=True)
class HubTarget:
    """Where `publish` pushes, once, at the end of a recipe: taken out of the training arguments by `prepare`."""

    repo_id: str
    private: bool | None
    adapter_base: str | None = None  # what a pushed unmerged adapter names as its base (a Hub id); None: no adapter
    adapter_base_revision: str | None = None


def prepare(script_args: RecipeArguments, training_args, model_args, recipe: str | None) -> HubTarget | None:
    """The checks and settings every recipe makes before it builds its trainer: the global batch, the precision
    on a CPU, the Hub token and push (see `take_push_from_trainer`), and what the trainer passes to from_pretrained.
    Returns where `publish` pushes, None without push_to_hub."""
    check_global_batch(script_args.global_batch_size, training_args, recipe)
    choose_cpu_precision(script_args.cpu_precision, training_args)
    keep_token_out_of_files(training_args)
    hub = take_push_from_trainer(script_args, training_args, model_args)
    training_args.model_init_kwargs = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(training_args.model_init_kwargs or {}),
    }
    return hub


def keep_token_out_of_files(training_args) -> None:
    """Move `hub_token` out of the training arguments into HF_TOKEN, where huggingface_hub finds it for this process
    and its children: the Trainer pickles its arguments whole into every training_args.bin it saves, so a token left
    there would be readable by anyone who gets the output folder."""
    if training_args.hub_token:
        os.environ["HF_TOKEN"] = training_args.hub_token
        training_args.hub_token = None


def take_push_from_trainer(script_args: RecipeArguments, training_args, model_args) -> HubTarget | None:
    """With push_to_hub, turn the Trainer's own pushes off and return what `publish` pushes once at the end: the
    Trainer would push output_dir at every checkpoint and at save_model (the adapter with its own card, into the repo
    the merged model then goes to), leaving adapter files beside merged weights over several commits.

    The repository is created now, on the main process (with hub_private_repo, as the Trainer did), so that a bad
    token or name stops the run before training. An adapter pushed unmerged must name a base that others can load:
    a Hub id, or the Hub source of an embedded model; a local folder is a RecipeError before training."""
    if not training_args.push_to_hub:
        return None
    training_args.push_to_hub = False
    adapter_base, adapter_base_revision = None, None
    merges = getattr(script_args, "merge_adapters", True)  # recipes/reward.py has no such key: it always merges
    if model_args.use_peft and not merges:
        adapter_base, adapter_base_revision = hub_base(model_args.model_name_or_path, model_args.model_revision)
    repo_id = hub_repo_id(training_args)
    if training_args.process_index == 0:
        try:
            repo_id = create_hub_repo(repo_id, private=training_args.hub_private_repo)
        except HfHubHTTPError as error:
            raise RecipeError(f"push_to_hub: cannot create {repo_id} on the Hub: {hub_error(error)}") from None
        logger.info("push_to_hub: the saved model goes to %s once, at the end (the Trainer's own pushes are off)",
                    repo_id)
    return HubTarget(repo_id, training_args.hub_private_repo, adapter_base, adapter_base_revision)


def hub_base(model_name_or_path: str, revision: str) -> tuple[str, str | None]:
    """The Hub id (and revision) that an adapter trained on `model_name_or_path` can name as its base."""
    if is_embedded(model_name_or_path):
        return embedded_source(model_name_or_path), None  # the model the embedded GGUF was quantized from
    if Path(model_name_or_path).expanduser().exists():
        raise RecipeError(f"{model_name_or_path}: push_to_hub would push a LoRA adapter whose base is a local folder "
                          "nobody else can load; set merge_adapters: true or train from a Hub id (namespace/name)")
    return model_name_or_path, revision


def check_global_batch(global_batch_size: int | None, training_args, recipe: str | None) -> None:
    """Stop a launch whose processes x per-device batch x accumulation is not the recipe's global batch (e.g. the
    8-GPU recipe on 16 GPUs would take half the optimizer steps at twice the batch), saying what to run instead."""
    if global_batch_size is None:
        return
    processes, per_device = training_args.world_size, training_args.per_device_train_batch_size
    actual = processes * per_device * training_args.gradient_accumulation_steps
    if actual == global_batch_size:
        return
    if global_batch_size % (processes * per_device) == 0:
        fix = f"run with --gradient_accumulation_steps {global_batch_size // (processes * per_device)}"
    elif global_batch_size % processes == 0:
        fix = (f"choose --per_device_train_batch_size and --gradient_accumulation_steps whose product is "
               f"{global_batch_size // processes}")
    else:
        fix = f"launch a number of processes that divides {global_batch_size}"
    raise RecipeError(
        f"{recipe or 'command line'}: global batch {actual} = {processes} processes x {per_device} per device x "
        f"{training_args.gradient_accumulation_steps} accumulation steps, but the recipe's global_batch_size is "
        f"{global_batch_size}; {fix}"
    )


def choose_cpu_precision(choice: str, training_args) -> None:
    """On a CPU, bf16 autocast only where bf16 is native (gpt4llm.precision) unless `choice` forces it; GPUs keep
    the recipe's bf16 setting."""
    if training_args.device.type != "cpu":
        return
    bf16 = use_bf16(choice)
    if training_args.bf16 and not bf16 and choice == "auto":
        logger.warning("the recipe asks for bf16, which this CPU would emulate: training in fp32 "
                       "(cpu_precision: bf16 forces it)")
    training_args.bf16 = bf16
    training_args.mixed_precision = "bf16" if bf16 else "no"  # what the Trainer's Accelerator is built with
    logger.info(describe_choice(bf16, choice))


class FirstStepClock(TrainerCallback):
    """When the first optimizer step of this run ended, and the tokens trained on by then: the steps after it give
    the steady rate, without the first step's one-off costs (kernels loaded, the allocator's and data loader's
    warm-up)."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.ended_at, self.tokens = None, None

    def on_step_end(self, args, state, control, **kwargs):
        if self.ended_at is None:
            self.ended_at, self.tokens = time.time(), trained_tokens(self.trainer)


def train(trainer, training_args):
    """`trainer.train`, resuming from the newest checkpoint an earlier run left, timed: when the recipe began, when
    training began, when its first step ended and when it ended (Unix time) go into the result's metrics and so into
    train_results.json, which splits a run's wall time into start-up, preparation, training, and evaluation and
    saving."""
    clock = FirstStepClock(trainer)
    trainer.add_callback(clock)
    started = time.time()
    logger.info(PHASES["train"])
    checkpoint = checkpoint_to_resume(training_args)
    if checkpoint and (finished := finished_run(trainer, checkpoint, training_args)):
        result = finished
    else:
        result = trainer.train(resume_from_checkpoint=checkpoint)
    result.metrics.update(recipe_started_at=_recipe_started_at, train_started_at=started,
                          first_step_ended_at=clock.ended_at, first_step_tokens=clock.tokens,
                          train_ended_at=time.time(), global_step=result.global_step)
    logger.info(PHASES["finish"])
    return result


def checkpoint_to_resume(training_args) -> str | None:
    """The checkpoint named in the config, else the newest one an earlier run left in output_dir."""
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint is None and os.path.isdir(training_args.output_dir):
        checkpoint = get_last_checkpoint(training_args.output_dir)
    if checkpoint:
        logger.info("resuming from %s", checkpoint)
    return checkpoint


def finished_run(trainer, checkpoint: str, training_args) -> TrainOutput | None:
    """A checkpoint that already reached `max_steps`, loaded as the trained model with its state, so that a rerun
    of a finished recipe trains nothing: transformers' resume would run the rest of the checkpoint's epoch up to
    one step past max_steps when max_steps falls inside an epoch. None when there is training left, or under
    FSDP and DeepSpeed, whose sharded checkpoints only load inside `train` (they keep transformers' behaviour)."""
    state_file = Path(checkpoint) / TRAINER_STATE_NAME
    if training_args.max_steps <= 0 or not state_file.is_file():
        return None
    state = TrainerState.load_from_json(str(state_file))
    if state.global_step < training_args.max_steps:
        return None
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        logger.warning("%s already reached max_steps %d; FSDP and DeepSpeed resume inside training, which may run "
                       "one more step", checkpoint, training_args.max_steps)
        return None
    logger.info("%s already reached max_steps %d: loading it, nothing left to train", checkpoint,
                training_args.max_steps)
    trainer._load_from_checkpoint(checkpoint)  # what train(resume_from_checkpoint=...) loads
    trainer.state = state
    losses = [log["train_loss"] for log in state.log_history if "train_loss" in log]
    return TrainOutput(state.global_step, losses[-1] if losses else 0.0, {"resumed_finished_run": True})


def save_train_metrics(trainer, result) -> None:
    """output_dir/train_results.json (main process): runtime, samples and steps per second, loss, and the tokens
    trained on (TRL's SFT, DPO and reward trainers count them in `_total_train_tokens`; GRPO and RLOO, prompts and
    completions, in the state's `num_input_tokens_seen`), and on a GPU the peak memory this process allocated."""
    import torch

    tokens = trained_tokens(trainer)
    memory = {"gpu_peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30} if torch.cuda.is_available() else {}
    trainer.save_metrics("train", {**result.metrics, "num_tokens": tokens, **memory})


def trained_tokens(trainer) -> int:
    return getattr(trainer, "_total_train_tokens", 0) or trainer.state.num_input_tokens_seen


def save(trainer, output_dir: str) -> None:
    """Save the trained model from every rank. FSDP checkpoints stay sharded (fast, resumable); the final model
    is gathered into one loadable file."""
    if trainer.is_fsdp_enabled:
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(output_dir)


def finish(trainer) -> None:
    """Wait until every rank is done with the others, then close the process group: a rank that tears it down
    first can abort the others mid-write."""
    trainer.accelerator.wait_for_everyone()
    trainer.end()


def release(trainer) -> None:
    """Free the training copy of the model (after `finish`), so that the saved one can be loaded beside nothing."""
    import torch

    trainer.accelerator.free_memory()
    trainer.model = trainer.model_wrapped = trainer.optimizer = trainer.lr_scheduler = None
    trainer.callback_handler.model = trainer.callback_handler.optimizer = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def save_tokenizer_and_merge(tokenizer, training_args, model_args, merge: bool) -> list[str]:
    """The tokenizer beside the saved weights and, with `merge` and LoRA, the adapter merged into its base in
    output_dir/merged with the tokenizer too (main process; a merged reward model reads each score at the last token
    that is not the tokenizer's pad, as training did): the folders to card, the last one to push."""
    tokenizer.save_pretrained(training_args.output_dir)
    folders = [training_args.output_dir]
    if merge and model_args.use_peft:
        folders.append(merge_adapter(training_args.output_dir, model_args.dtype, pad_token_id=tokenizer.pad_token_id))
        tokenizer.save_pretrained(folders[-1])
    return folders


def publish(folders: list[str], *, card: dict, hub: HubTarget | None, message: str) -> None:
    """Write the model card into each saved folder and, with a Hub target (`prepare`'s), push the last one in one
    commit (main process): the merged model when there is one, else the saved model or adapter."""
    for folder in dict.fromkeys(folders):
        write_model_card(folder, **card)
    if hub is not None:
        try:
            url = push_folder(folders[-1], repo_id=hub.repo_id, private=hub.private, message=message,
                              adapter_base=hub.adapter_base, adapter_base_revision=hub.adapter_base_revision)
        except HfHubHTTPError as error:  # what was trained is saved; a rerun of the finished run trains nothing
            raise RecipeError(f"{folders[-1]}: saved, but not pushed to {hub.repo_id}: {hub_error(error)}; the "
                              "same command again pushes it without training") from None
        logger.info("pushed %s to %s", folders[-1], url)


def hub_repo_id(training_args) -> str:
    """The repository `push_to_hub` uploads to: hub_model_id, else the output folder's name under the user."""
    return training_args.hub_model_id or Path(training_args.output_dir).name
