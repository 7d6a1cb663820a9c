"""DPO on preference pairs tokenized as generation sees them: TRL's DPOTrainer with the tokenization of SFT.

TRL tokenizes the prompt and prompt + response and cuts where the two diverge; where the Alpaca prompt's final
`:` merges with how a response begins (`:"`, `:(`), that drops the prompt's last token and trains on a context
generation never feeds. Here each pair is tokenized by `gpt4llm.data.tokenize_prompt_completion`: the prompt alone,
then each response and EOS, and the trainer takes those ids as they are.
"""

from datasets import Dataset
from trl import DPOTrainer

from .data import tokenize_prompt_completion


def tokenize_pairs(pairs: Dataset, tokenizer) -> Dataset:
    """`{prompt, chosen, rejected}` pairs as `{prompt_ids, chosen_ids, rejected_ids}`, EOS ending each response."""
    where = [f"pair {i}" for i in range(len(pairs))]
    prompts = list(pairs["prompt"])
    chosen = tokenize_prompt_completion(prompts, list(pairs["chosen"]), tokenizer, where)
    rejected = tokenize_prompt_completion(prompts, list(pairs["rejected"]), tokenizer, where)
    prompt_ids, chosen_ids, rejected_ids = [], [], []
    for ids, labels, rejected_all in zip(chosen["input_ids"], chosen["labels"], rejected["input_ids"]):
        start = next(i for i, label in enumerate(labels) if label != -100)
        prompt_ids.append(ids[:start])
        chosen_ids.append(ids[start:])
        rejected_ids.append(rejected_all[start:])
    return Dataset.from_dict({"prompt_ids": prompt_ids, "chosen_ids": chosen_ids, "rejected_ids": rejected_ids})


class PretokenizedDPOTrainer(DPOTrainer):
    """DPOTrainer over `tokenize_pairs` output: the ids are used as they are, and pairs whose prompt alone fills
    max_length are dropped as TRL drops them."""

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        if "prompt_ids" not in dataset.column_names:
            return super()._prepare_dataset(dataset, processing_class, args, dataset_name)
        if args.max_length is not None and args.truncation_mode == "keep_start":
            dataset = dataset.filter(lambda pair: len(pair["prompt_ids"]) < args.max_length,
                                     desc=f"Dropping fully truncated {dataset_name} pairs")
        return dataset
