"""Scoring with a trained reward model: `RewardModel.from_pretrained(path).score(prompt, responses)`.

A response is scored exactly as RewardTrainer saw it during training: prompt + response + EOS, tokenized with
the tokenizer's special tokens, the score read at the last non-padding token. LoRA reward models (adapter and
score head) load the same way as full ones.
"""

from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from .models import inference_device


class RewardModel:
    def __init__(self, model, tokenizer, *, batch_size: int = 8, max_length: int = 1024):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"

    @classmethod
    def from_pretrained(cls, path: str, *, dtype: str = "float32", **kwargs) -> "RewardModel":
        placement = {"dtype": dtype, "device_map": inference_device()}
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
        eos = self.tokenizer.eos_token
        texts = [text if text.endswith(eos) else text + eos for text in texts]
        device = next(self.model.parameters()).device
        rewards: list[float] = []
        # longest first: batches of similar length waste little on padding
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            batch = [texts[i] for i in order[start : start + self.batch_size]]
            inputs = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            rewards += self.model(**inputs.to(device)).logits[:, 0].float().tolist()
        by_position = dict(zip(order, rewards))
        return [by_position[i] for i in range(len(texts))]

    def pairwise_accuracy(self, pairs) -> float:
        """The share of pairs whose chosen response gets the higher reward."""
        chosen = self.score_texts([p["prompt"] + p["chosen"] for p in pairs])
        rejected = self.score_texts([p["prompt"] + p["rejected"] for p in pairs])
        return sum(c > r for c, r in zip(chosen, rejected)) / len(chosen)
