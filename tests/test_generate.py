"""eval generate (local batched and endpoint) and best-of-N reranking, on the tiny model."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from fake_openai import FakeOpenAI

from eval.best_of_n import rerank
from eval.generate import generate
from eval.rouge import rouge
from gpt4llm.data import DataError
from gpt4llm.teacher.options import TeacherConfig

QUESTIONS = ROOT / "eval" / "data" / "demo_questions.jsonl"
pytestmark = pytest.mark.slow


def eval_cli(*args):
    result = subprocess.run([sys.executable, "-m", "eval", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                            timeout=600, env={**os.environ})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_local_generation_is_batched_resumable_and_in_fastchat_schema(tmp_path, tiny_model_dir):
    output = tmp_path / "answers.jsonl"
    args = ("generate", "--model", tiny_model_dir, "--questions", QUESTIONS, "--output", output, "--model-id", "tiny",
            "--max-new-tokens", "8", "--batch-size", "4", "--limit", "6")
    first = eval_cli(*args)
    answers = read_jsonl(output)
    assert [a["question_id"] for a in answers] == [1, 2, 3, 4, 5, 6]
    assert (set(answers[0]) == {"answer_id", "question_id", "model_id", "text", "metadata"}
            and answers[0]["model_id"] == "tiny")
    assert "tokens/s" in first.stderr
    log = (tmp_path / "answers.jsonl.records.jsonl").read_text()
    again = eval_cli(*args)  # everything is in the log: nothing is generated again
    assert "tokens/s" not in again.stderr and (tmp_path / "answers.jsonl.records.jsonl").read_text() == log
    assert read_jsonl(output) == answers


BF16_ONEDNN = pytest.mark.skipif(
    not __import__("torch").ops.mkldnn._is_mkldnn_bf16_supported(), reason="no oneDNN bf16 on this CPU"
)


@BF16_ONEDNN
def test_packed_linear_layers_compute_what_the_plain_ones_do():
    import torch

    from eval.generate import PackedLinear

    for bias in (True, False):
        linear = torch.nn.Linear(64, 96, bias=bias).to(torch.bfloat16)
        packed = PackedLinear(linear, batch_size=8)
        for shape in ((8, 64), (3, 5, 64), (1, 64)):
            x = torch.randn(shape, dtype=torch.bfloat16)
            assert torch.equal(packed(x), linear(x))


@BF16_ONEDNN
def test_generation_with_packed_weights_equals_plain_generation(tiny_model_dir):
    import json

    from eval.generate import LocalGenerator
    from gpt4llm.templates import alpaca_prompt

    prompts = [alpaca_prompt(json.loads(line)["text"]) for line in QUESTIONS.read_text().splitlines()[:6]]
    packed = LocalGenerator(tiny_model_dir, template="alpaca", batch_size=3)
    plain = LocalGenerator(tiny_model_dir, template="alpaca", batch_size=3, pack_weights=False)
    assert any(type(m).__name__ == "PackedLinear" for m in packed.model.modules())
    assert not any(type(m).__name__ == "PackedLinear" for m in plain.model.modules())
    params = {"temperature": 0, "max_tokens": 12}
    answers = packed.generate(prompts, params)
    assert any(answers) and answers == plain.generate(prompts, params)


def test_sampling_keeps_the_models_top_k_and_is_seeded_per_batch(tiny_model_dir):
    """As FastChat's gen_model_answer.py samples: top-k from the model's generation config (transformers' 50), so
    with temperature 1 and top-p 1 every sampled token is among the 50 likeliest of its step (a random model over
    49,152 tokens would almost never pick one without it); and each batch starts from the same seed, so a batch
    draws the same answers whatever ran before it (a resumed run too)."""
    import torch

    from eval.generate import LocalGenerator
    from gpt4llm.templates import alpaca_prompt

    generator = LocalGenerator(tiny_model_dir, template="alpaca", precision="fp32", pack_weights=False)
    sampled, generate = [], generator.model.generate
    generator.model.generate = lambda **kwargs: sampled.append(generate(**kwargs)) or sampled[-1]
    prompts = [alpaca_prompt("Name a colour."), alpaca_prompt("Name a river.")]
    params = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 8}
    first = generator.generate(prompts, params, num_return_sequences=4)
    generator.generate([alpaca_prompt("Something else.")], params)
    assert generator.generate(prompts, params, num_return_sequences=4) == first

    prompt_length = generator.tokenizer(prompts, return_tensors="pt", padding=True)["input_ids"].shape[1]
    sequences = sampled[0]
    with torch.no_grad():
        mask = sequences != generator.tokenizer.pad_token_id
        logits = generator.model(input_ids=sequences, attention_mask=mask).logits
    ranks = []
    for row, sequence in enumerate(sequences):
        for position in range(prompt_length, len(sequence)):
            if sequence[position] == generator.tokenizer.pad_token_id:
                break
            step = logits[row, position - 1]
            ranks.append(int((step > step[sequence[position]]).sum()))
    assert len(ranks) > 20 and max(ranks) < 50, ranks


def test_endpoint_generation_and_labelled_benchmarks(tmp_path, capsys):
    output = tmp_path / "unnatural.json"
    with FakeOpenAI() as server:
        written = generate(str(ROOT / "eval/data/demo_unnatural.jsonl"), output, TeacherConfig("teacher", server.url))
        assert written.path == output and written.failures is None
        prompt = server.requests[0]["messages"][0]["content"]
    answers = json.loads(output.read_text())
    assert len(answers) == 12 and answers[0] == {
        "answer_id": "teacher-0-0", "question_id": "0-0", "model_id": "teacher",
        "text": "Answer: Answer with the capital city of the given country.", "reference": "Paris",
        "metadata": {"template": "alpaca", "temperature": 0.0, "top_p": 1.0, "max_tokens": 512},
    }
    assert [a["question_id"] for a in answers[:4]] == ["0-0", "0-1", "0-2", "1-0"]  # record, then instance
    assert prompt.endswith("### Response:")
    assert set(rouge([str(output)])) == {"teacher"} and "| teacher |" in capsys.readouterr().out


def test_unnatural_core_parquet_and_a_seeded_sample(tmp_path):
    import pyarrow
    import pyarrow.parquet

    # the registered unnatural_core is the Hub's Parquet file of the core set: {instruction, instances: [...]}
    core = [json.loads(line) for line in (ROOT / "eval/data/demo_unnatural.jsonl").read_text().splitlines()]
    for record in core:
        for instance in record["instances"]:
            instance.update(instruction_with_input=f"{record['instruction']}\n{instance['input']}",
                            constraints="None.")
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(core), tmp_path / "core.parquet")
    all_labels = [instance["output"] for record in core for instance in record["instances"]]
    samples = []
    with FakeOpenAI() as server:
        for seed, name in ((1, "a"), (1, "b"), (2, "c")):
            generate(str(tmp_path / "core.parquet"), tmp_path / f"{name}.json", TeacherConfig("teacher", server.url),
                     sample=5, seed=seed)
            samples.append(json.loads((tmp_path / f"{name}.json").read_text()))
    labels = [[r["reference"] for r in sample] for sample in samples]
    assert len(labels[0]) == 5 and labels[0] == labels[1] != labels[2]  # reproducible for a seed
    assert all(all_labels.index(a) < all_labels.index(b) for a, b in zip(labels[0], labels[0][1:]))  # in file order


def test_best_of_n_ranks_samples_by_reward_and_writes_n_groups(tmp_path, tiny_model_dir, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from gpt4llm.reward import RewardModel
    from gpt4llm.templates import alpaca_prompt

    reward_dir = tmp_path / "reward"
    torch.manual_seed(1)
    config = LlamaConfig.from_pretrained(tiny_model_dir, num_labels=1, pad_token_id=tokenizer.pad_token_id)
    LlamaForSequenceClassification(config).save_pretrained(reward_dir)
    tokenizer.save_pretrained(reward_dir)

    out = tmp_path / "bon"
    ranked = rerank(tiny_model_dir, str(reward_dir), str(QUESTIONS), out, n=3, limit=4, max_new_tokens=6,
                    temperature=1.0)
    assert ranked == [out / f"R{k}.jsonl" for k in (1, 2, 3)]
    groups = [read_jsonl(path) for path in ranked]
    assert all(len(g) == 4 for g in groups)
    scorer = RewardModel.from_pretrained(str(reward_dir))
    questions = {json.loads(line)["question_id"]: json.loads(line)["text"]
                 for line in QUESTIONS.read_text().splitlines()}
    for r1, r2, r3 in zip(*groups):
        assert r1["question_id"] == r2["question_id"] == r3["question_id"]
        assert (r1["model_id"], r3["model_id"]) == (
            f"{tiny_model_dir.split('/')[-1]}-R1", f"{tiny_model_dir.split('/')[-1]}-R3"
        )
        assert r1["metadata"]["reward"] >= r2["metadata"]["reward"] >= r3["metadata"]["reward"]
        rescored = scorer.score(alpaca_prompt(questions[r1["question_id"]]), [r1["text"], r2["text"], r3["text"]])
        assert rescored == pytest.approx(
            [r1["metadata"]["reward"], r2["metadata"]["reward"], r3["metadata"]["reward"]], abs=1e-4
        )


def test_best_of_one_is_the_greedy_answer_and_fewer_is_refused(tmp_path, tiny_model_dir, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    reward_dir = tmp_path / "reward"
    config = LlamaConfig.from_pretrained(tiny_model_dir, num_labels=1, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(1)
    LlamaForSequenceClassification(config).save_pretrained(reward_dir)
    tokenizer.save_pretrained(reward_dir)
    common = {"limit": 3, "max_new_tokens": 6, "batch_size": 4, "model_id": "tiny"}
    rerank(tiny_model_dir, str(reward_dir), str(QUESTIONS), tmp_path / "bon", n=1, temperature=0, **common)
    generate(str(QUESTIONS), tmp_path / "greedy.jsonl", tiny_model_dir, **common)
    best = read_jsonl(tmp_path / "bon" / "R1.jsonl")
    assert sorted(p.name for p in (tmp_path / "bon").glob("R*.jsonl")) == ["R1.jsonl"]
    assert ([b["text"] for b in best] == [g["text"] for g in read_jsonl(tmp_path / "greedy.jsonl")]
            and best[0]["model_id"] == "tiny-R1")
    with pytest.raises(DataError, match=r"^--n 0: best-of-n needs at least one sample per question$"):
        rerank(tiny_model_dir, str(reward_dir), str(QUESTIONS), tmp_path / "none", n=0)
