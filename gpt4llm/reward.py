"""Scoring with a trained reward model: `RewardModel.from_pretrained(path).score(prompt, responses)`.

A response is scored exactly as RewardTrainer saw it during training: prompt + response + EOS, tokenized with
the tokenizer's special tokens, the score read at the last token that is not the padding token the tokenizer was
saved with (EOS for tokenizers that have none, as RewardTrainer pads). LoRA and QLoRA reward models (adapter and
score head) load the same way as full ones, and a response gets the same score alone as beside longer ones.

Lengths: recipes/reward.py saves the tokenizer with `model_max_length` set to the training `max_length`, and
scoring reads at most that many tokens. Training dropped longer pairs; a longer text here keeps its end (the
response and EOS, where the score is read) and loses the start of its prompt, never its end, and is counted.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
from trl import RewardTrainer
from trl.trainer.utils import pad

from .data import DataError
from .models import check_local_model, inference_device
from .precision import use_bf16

logger = logging.getLogger(__name__)


def reward_text(prompt: str, response: str, eos_token: str) -> str:
    """What a reward model reads: prompt + response + EOS (as RewardTrainer appends it)."""
    text = prompt + response
    return text if text.endswith(eos_token) else text + eos_token


def pairs_within(pairs: Dataset, tokenizer, max_length: int | None) -> Dataset:
    """The pairs RewardTrainer would train on: both texts within max_length tokens (it drops longer pairs rather
    than truncating them), so that held-out pairs follow the rule training pairs followed."""
    if max_length is None:
        return pairs

    def fits(pair) -> bool:
        texts = [reward_text(pair["prompt"], pair[side], tokenizer.eos_token) for side in ("chosen", "rejected")]
        return all(len(ids) <= max_length for ids in tokenizer(texts, verbose=False)["input_ids"])

    return pairs.filter(fits)


def check_reward_model(path: str) -> None:
    """A DataError unless `path` holds what recipes/reward.py saves: a sequence classifier with one label, or a
    SEQ_CLS LoRA adapter with its score head. A causal LM would load too, with a random head scoring nonsense."""
    check_local_model(path, "reward model")
    if (Path(path) / "adapter_config.json").is_file():
        from peft import PeftConfig

        task = PeftConfig.from_pretrained(path).task_type
        if task != "SEQ_CLS":
            raise DataError(f"{path}: a LoRA adapter for {task}, not a reward model (SEQ_CLS, with its score head)")
        return
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a reward model: {str(error).splitlines()[0]}") from None
    architecture = (config.architectures or ["model of no architecture"])[0]
    if not architecture.endswith("ForSequenceClassification") or config.num_labels != 1:
        labels = f" with {config.num_labels} labels" if architecture.endswith("ForSequenceClassification") else ""
        raise DataError(f"{path}: a {architecture}{labels}, not a reward model (a sequence classifier with one "
                        "label, as recipes/reward.py saves)")


def trained_max_length(model, tokenizer) -> int:
    """The length the reward model was trained with (saved as the tokenizer's model_max_length by
    recipes/reward.py), else what its positions allow."""
    if tokenizer.model_max_length < 1_000_000:  # transformers' "unset" is 1e30
        return tokenizer.model_max_length
    return getattr(model.config.get_text_config(), "max_position_embeddings", 2048)


class RewardModel:
    def __init__(self, model, tokenizer, *, batch_size: int = 8, max_length: int | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length or trained_max_length(model, tokenizer)
        self.cut = 0  # texts longer than max_length, scored on their last max_length tokens
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        self.tokenizer.truncation_side = "left"  # keep the end, where the score is read
        # The classifier reads each sequence at its last token that is not the config's pad id. A LoRA model
        # reloads its base's config, whose pad id need not be the one training padded with (the 2023 LLaMA
        # conversions say 0, while training padded with EOS): every shorter sequence of a batch would then be
        # scored at a padding position.
        self.model.config.get_text_config().pad_token_id = self.tokenizer.pad_token_id

    @classmethod
    def from_pretrained(
        cls, path: str, *, dtype: str | None = None, quantization_config=None, **kwargs
    ) -> "RewardModel":
        """`dtype` None: bf16 where the hardware computes it natively, else fp32 (gpt4llm.precision); a QLoRA
        model is loaded with its `quantization_config` again."""
        from transformers.integrations import deepspeed

        if deepspeed.is_deepspeed_zero3_enabled():
            raise DataError(f"{path}: a reward model is scored whole on each process, which DeepSpeed ZeRO-3 (it "
                            "shards every model loaded) does not allow; launch with accelerate_configs/ddp.yaml or "
                            "an FSDP config instead")
        check_reward_model(path)
        device = inference_device()
        if dtype is None:
            dtype = "bfloat16" if use_bf16("auto", device) else "float32"
        placement = {"dtype": dtype, "device_map": device, "quantization_config": quantization_config}
        if (Path(path) / "adapter_config.json").is_file():
            from peft import AutoPeftModelForSequenceClassification

            model = AutoPeftModelForSequenceClassification.from_pretrained(path, num_labels=1, **placement)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, **placement)
        return cls(model, AutoTokenizer.from_pretrained(path), **kwargs)

    @torch.no_grad()
    def score(self, prompt: str, responses: list[str]) -> list[float]:
        """One reward per response to `prompt` (an Alpaca prompt ending in `### Response:`)."""
        return self.score_texts([prompt + response for response in responses])

    @torch.no_grad()
    def score_texts(self, texts: list[str]) -> list[float]:
        texts = [reward_text(text, "", self.tokenizer.eos_token) for text in texts]
        device = next(self.model.parameters()).device
        rewards: list[float] = []
        lengths = [len(ids) for ids in self.tokenizer(texts, verbose=False)["input_ids"]]
        if cut := sum(length > self.max_length for length in lengths):
            self.cut += cut
            logger.warning("%d of %d texts longer than the reward model's %d tokens: scored on their last %d tokens "
                           "(the start of the prompt left out)", cut, len(texts), self.max_length, self.max_length)
        # longest first: batches of similar length waste little on padding
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        for start in range(0, len(order), self.batch_size):
            batch = [texts[i] for i in order[start : start + self.batch_size]]
            inputs = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            rewards += self.model(**inputs.to(device)).logits[:, 0].float().tolist()
        by_position = dict(zip(order, rewards))
        return [by_position[i] for i in range(len(texts))]

    def pairwise_accuracy(self, pairs) -> float:
        """The share of pairs whose chosen response gets the higher reward."""
        chosen = self.score_texts([p["prompt"] + p["chosen"] for p in pairs])
        rejected = self.score_texts([p["prompt"] + p["rejected"] for p in pairs])
        return sum(c > r for c, r in zip(chosen, rejected)) / len(chosen)


@dataclass
class GroupCollator:
    """Prompt groups (from `GroupedRewardTrainer`'s dataset) -> one right-padded batch of all their responses, and
    each pair as indices into it. Pads with the tokenizer's pad token as it is when batches are made, i.e. after
    RewardTrainer has given a tokenizer without one (LLaMA's) its EOS."""

    tokenizer: object

    def __call__(self, groups: list[dict]) -> dict:
        sequences, chosen, rejected, margins = [], [], [], []
        for group in groups:
            offset = len(sequences)
            sequences += group["input_ids"]
            chosen += [offset + i for i in group["chosen_index"]]
            rejected += [offset + i for i in group["rejected_index"]]
            margins += group["margin"]
        input_ids = [torch.tensor(ids) for ids in sequences]
        return {
            "input_ids": pad(input_ids, padding_value=self.tokenizer.pad_token_id),
            "attention_mask": pad([torch.ones_like(ids) for ids in input_ids]),
            "chosen_index": torch.tensor(chosen),
            "rejected_index": torch.tensor(rejected),
            "margin": torch.tensor(margins, dtype=torch.float),
        }


class GroupedRewardTrainer(RewardTrainer):
    """RewardTrainer over prompt groups (`gpt4llm.preferences.preference_groups`): each of a prompt's K responses
    goes through the model once and its C(K,2) pairs share those rewards, where RewardTrainer runs both sequences
    of every pair (K-1 passes per response). A batch is `per_device_train_batch_size` prompts. The loss per pair is
    RewardTrainer's, -log sigmoid(r_h - r_l), averaged over the batch's pairs; `use_margin` subtracts the margin and
    `center_rewards_coefficient` adds the same penalty per pair."""

    def __init__(self, *args, use_margin: bool = False, **kwargs):
        self.use_margin = use_margin
        kwargs.setdefault("data_collator", GroupCollator(kwargs["processing_class"]))
        super().__init__(*args, **kwargs)

    def _prepare_dataset(self, dataset: Dataset, processing_class, args, dataset_name: str) -> Dataset:
        # the text RewardTrainer trains on: prompt + response + EOS; responses over max_length leave with their pairs
        def tokenize(group):
            texts = [reward_text(group["prompt"], response, processing_class.eos_token)
                     for response in group["responses"]]
            ids = processing_class(texts)["input_ids"]
            keep = [args.max_length is None or len(i) <= args.max_length for i in ids]
            pairs = [(c, r, m) for c, r, m in zip(group["chosen_index"], group["rejected_index"], group["margin"])
                     if keep[c] and keep[r]]
            return {"input_ids": ids, "chosen_index": [c for c, _, _ in pairs],
                    "rejected_index": [r for _, r, _ in pairs], "margin": [m for _, _, m in pairs]}

        dataset = dataset.map(tokenize, remove_columns=dataset.column_names, desc=f"Tokenizing {dataset_name} groups")
        return dataset.filter(lambda group: len(group["chosen_index"]) > 0)

    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            self._signature_columns = ["input_ids", "chosen_index", "rejected_index", "margin"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False)
        rewards = outputs.logits.squeeze(-1)
        chosen, rejected = rewards[inputs["chosen_index"]], rewards[inputs["rejected_index"]]
        difference = chosen - rejected
        loss = -torch.nn.functional.logsigmoid(difference - inputs["margin"] if self.use_margin else difference).mean()
        if self.args.center_rewards_coefficient is not None:
            loss += self.args.center_rewards_coefficient * torch.mean((chosen + rejected) ** 2)
        mode = "train" if model.training else "eval"
        if mode == "train":
            self._total_train_tokens += (
                self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
            )
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        with torch.no_grad():
            self._metrics[mode]["accuracy"].append(
                self.accelerator.gather_for_metrics((difference > 0).float().mean()).mean().item()
            )
            self._metrics[mode]["margin"].append(self.accelerator.gather_for_metrics(difference.mean()).mean().item())
        return (loss, outputs) if return_outputs else loss
