"""Packing without contamination: a packed batch gives every example the loss it has when run alone."""

from collections import Counter

import torch
from conftest import write_alpaca

from gpt4llm.data import load_records, to_sft_dataset


def per_token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy at every position whose label is trained."""
    logits, labels = logits[:-1], labels[1:]
    keep = labels != -100
    return torch.nn.functional.cross_entropy(logits[keep].float(), labels[keep], reduction="none")


def test_packed_losses_equal_unpacked(tmp_path, tokenizer, tiny_model_dir):
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    dataset = to_sft_dataset(load_records(str(write_alpaca(tmp_path / "d.json", n=12))), tokenizer)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    config = dict(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none", max_length=256)
    packed = SFTTrainer(model=model, args=SFTConfig(packing=True, **config), train_dataset=dataset,
                        processing_class=tokenizer)
    alone = SFTTrainer(model=model, args=SFTConfig(**config), train_dataset=dataset, processing_class=tokenizer)
    assert packed.padding_free and len(packed.train_dataset) < len(alone.train_dataset)

    expected, examples = {}, Counter()
    with torch.no_grad():
        for example in alone.train_dataset:
            ids = torch.tensor([example["input_ids"]])
            logits = model(input_ids=ids, use_cache=False).logits[0]
            expected[tuple(example["input_ids"])] = per_token_losses(logits, torch.tensor(example["labels"]))
            examples[tuple(example["input_ids"])] += 1

        rows = list(packed.train_dataset)
        batch = packed.data_collator(rows)
        assert "attention_mask" not in batch and "position_ids" in batch
        outputs = model(**batch, use_cache=False)
        logits, ids, labels = outputs.logits[0], batch["input_ids"][0], batch["labels"][0]

        found, start = [], 0
        for row in rows:
            for length in row["seq_lengths"]:
                segment = slice(start, start + length)
                key = tuple(ids[segment].tolist())
                torch.testing.assert_close(per_token_losses(logits[segment], labels[segment]), expected[key])
                found.append(key)
                start += length
    assert Counter(found) == examples  # every example packed exactly once

    # control: the same tokens packed without restarting positions do attend across examples
    with torch.no_grad():
        contaminated = model(input_ids=batch["input_ids"], use_cache=False).logits[0]
    assert not torch.allclose(contaminated, logits, atol=1e-3)

    # the training loss of the packed batch is the token-weighted mean of the examples' own losses
    all_alone = torch.cat([expected[key] for key, count in examples.items() for _ in range(count)])
    torch.testing.assert_close(outputs.loss, all_alone.mean(), rtol=1e-5, atol=1e-5)
