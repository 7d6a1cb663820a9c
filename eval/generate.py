"""A model's answers to a benchmark, batched: a local or Hub model (LoRA adapters included) with transformers,
or any OpenAI-compatible endpoint through the shared teacher client.

Prompts use the model's own template: `alpaca` (models trained by this repo's recipes) or `chat` (the
tokenizer's chat template). Multi-turn questions (MT-bench) are asked turn by turn: turn t's prompt holds the
question's earlier turns and the model's own answers to them, as FastChat's gen_model_answer builds it. Local
generation runs on the GPU when there is one, in bf16 where the hardware computes it natively and fp32 elsewhere
(gpt4llm.precision; on a CPU with native bf16 the linear layers' weights are also packed once for oneDNN:
bench/generation_throughput.py), batched by parameters and prompt length with left padding, and every finished
batch goes to the durable run log, so an interrupted run resumes.
"""

import asyncio
import json
import logging
import time
from pathlib import Path

import torch

from gpt4llm.benchmarks import (
    Item,
    answer_record,
    load_benchmark,
    select,
    turn_answer_record,
)
from gpt4llm.data import DataError
from gpt4llm.files import write_rows
from gpt4llm.models import inference_device
from gpt4llm.precision import describe_choice, use_bf16
from gpt4llm.teacher.options import TeacherConfig
from gpt4llm.teacher.runlog import Job, RunLog, Written, job_id, records_path, report_failures
from gpt4llm.templates import alpaca_conversation, alpaca_prompt

from .mt_bench import answer_params

logger = logging.getLogger(__name__)


def generate(questions: str, output: Path, model: str | TeacherConfig, *, model_id: str | None = None,
             template: str = "alpaca", limit: int | None = None, sample: int | None = None, seed: int = 0,
             subsets: list[str] | None = None,
             max_new_tokens: int | None = None, temperature: float | None = None, top_p: float = 1.0,
             batch_size: int = 8, precision: str = "auto", extra_body: dict | None = None,
             dry_run: bool = False) -> Written | None:
    """`python -m eval generate`: a model's answers to a benchmark (the first `limit` questions, or a seeded
    `sample`, of its `subsets` or all), in FastChat's answer schema. `model` is a local path or Hub id (LoRA adapters
    too), or an endpoint's model (a TeacherConfig). Greedy unless `temperature`; MT-bench is answered turn by turn at
    FastChat's per-category temperatures. Returns what was written; None after a dry run."""
    if dry_run and not isinstance(model, TeacherConfig):
        raise DataError("a dry run prints the requests an endpoint would be sent: it needs an endpoint's model")
    bench = load_benchmark(questions)
    items = select(bench.items, limit=limit, sample=sample, seed=seed, subsets=subsets)
    name = model_id or Path(model.model if isinstance(model, TeacherConfig) else model).name
    if bench.shape == "mt_bench":
        return _generate_turns(items, output, model, name, template=template, max_new_tokens=max_new_tokens,
                               temperature=temperature, top_p=top_p, batch_size=batch_size, precision=precision,
                               extra_body=extra_body, dry_run=dry_run)
    params = {"temperature": 0.0 if temperature is None else temperature, "top_p": top_p,
              "max_tokens": max_new_tokens or 512}
    model_name = model.model if isinstance(model, TeacherConfig) else model
    jobs = prompt_jobs(items, model_name, template, params | ({"extra_body": extra_body} if extra_body else {}))
    for item, job in zip(items, jobs):  # how the failures file names a prompt
        job.source = {"question_id": item.key}
    log = None if dry_run else RunLog(records_path(output))
    desc = "answers" if isinstance(model, TeacherConfig) else "generate"
    if not _answer(jobs, model, log, desc=desc, template=template, batch_size=batch_size,
                   precision=precision):
        return None
    metadata = {"template": template, **params}
    rows = [answer_record(item, name, log.done[job.id]["text"], metadata)
            for item, job in zip(items, jobs) if job.id in log.done]
    write_rows(output, rows)
    logger.info("wrote %d answers to %s", len(rows), output)
    failures = report_failures(output, jobs, log)
    log.close()
    return Written(Path(output), failures)


def _answer(jobs: list[Job], model: str | TeacherConfig, log: RunLog | None, *, desc: str, template: str,
            batch_size: int, precision: str, generator: "LocalGenerator | None" = None) -> bool:
    """Answer the jobs not yet in the log, by an endpoint or a local model; with no log (a dry run) print the
    first requests and the cost instead and return False."""
    if isinstance(model, TeacherConfig):
        from gpt4llm.teacher.dispatch import print_dry_run, send

        if log is None:
            print_dry_run(jobs, model)
            return False
        summary = asyncio.run(send(jobs, model, log, desc=f"{desc} ({model.model})"))
        logger.info("%s: %s", desc, "; ".join(summary.lines()))
        return True
    from tqdm.auto import tqdm

    generator = generator or LocalGenerator(model, template=template, batch_size=batch_size, precision=precision)
    with tqdm(total=len(jobs), desc=f"{desc} ({Path(model).name})") as bar:
        generator.run(jobs, log, progress=bar)
    if generator.seconds:
        logger.info("%d new tokens in %.1fs: %.1f tokens/s",
                    generator.new_tokens, generator.seconds, generator.new_tokens / generator.seconds)
    return True


def _generate_turns(items: list[Item], output: Path, model: str | TeacherConfig, name: str, *, template: str,
                    max_new_tokens: int | None, temperature: float | None, top_p: float, batch_size: int,
                    precision: str, extra_body: dict | None, dry_run: bool) -> Written | None:
    """Multi-turn questions (MT-bench), turn by turn: each turn's prompt holds the earlier turns and the model's
    answers to them; answers in FastChat's llm_judge schema, for the questions answered on every turn."""
    endpoint = isinstance(model, TeacherConfig)
    model_name = model.model if endpoint else model

    def params_of(item):
        params = answer_params(item.category, temperature, top_p, max_new_tokens)
        return params | ({"extra_body": extra_body} if extra_body else {})

    answers = {item.key: [] for item in items}
    if dry_run:
        _answer(turn_jobs(items, answers, model_name, template, params_of), model, None, desc="turn 1",
                template=template, batch_size=batch_size, precision=precision)
        later = sum(len(item.turns) - 1 for item in items)
        print(f"=== and {later} requests for the later turns, each holding the answers before it")
        return None
    log = RunLog(records_path(output))
    generator = None if endpoint else LocalGenerator(model, template=template, batch_size=batch_size,
                                                     precision=precision)
    sent = []
    for turn in range(1, max(len(item.turns) for item in items) + 1):
        asking = [item for item in items if len(answers[item.key]) == turn - 1 < len(item.turns)]
        jobs = turn_jobs(asking, answers, model_name, template, params_of)
        sent += jobs
        _answer(jobs, model, log, desc=f"turn {turn}", template=template, batch_size=batch_size,
                precision=precision, generator=generator)
        for item, job in zip(asking, jobs):
            if job.id in log.done:
                answers[item.key].append(log.done[job.id]["text"])
    now = time.time()
    complete = [item for item in items if len(answers[item.key]) == len(item.turns)]
    write_rows(output, [turn_answer_record(item, name, answers[item.key], now) for item in complete])
    logger.info("wrote the answers to every turn of %d questions to %s", len(complete), output)
    failures = report_failures(output, sent, log)
    log.close()
    return Written(Path(output), failures)


def write_predictions(questions: str, output: Path, model_id: str, *, limit: int | None = None,
                      sample: int | None = None, seed: int = 0) -> Written:
    """`python -m eval generate --predictions`: no model runs; the answers the benchmark carries beside its labels
    (GPT-4's, in the released Unnatural file), written as `model_id`'s."""
    bench = load_benchmark(questions)
    items = select(bench.items, limit=limit, sample=sample, seed=seed)
    without = [item for item in items if item.prediction is None]
    if without:
        raise DataError(
            f"{without[0].where}: field 'output' is missing: --predictions needs a model's output beside each label"
        )
    rows = [answer_record(item, model_id, item.prediction, {"source": bench.source}) for item in items]
    write_rows(output, rows)
    logger.info("wrote the %d answers of %s that %s carries to %s", len(rows), model_id, bench.source, output)
    return Written(Path(output))


def prompt_jobs(items: list[Item], model: str, template: str, params: dict) -> list[Job]:
    """One job per benchmark item, its messages in the model's template."""
    jobs = []
    for item in items:
        content = alpaca_prompt(item.instruction, item.input) if template == "alpaca" else item.prompt
        messages = [{"role": "user", "content": content}]
        jobs.append(
            Job(job_id("generate", model, template, params, messages), messages, params, meta={"key": item.key})
        )
    return jobs


def turn_jobs(items: list[Item], answers: dict, model: str, template: str, params_of) -> list[Job]:
    """The next turn's job for each item: turn t = len(answers[item.key]) + 1, its prompt the conversation so far
    (the earlier turns and their answers) in the model's template; `params_of(item)` gives its parameters. Turn 1
    is the same request `prompt_jobs` makes."""
    jobs = []
    for item in items:
        done = answers[item.key]
        turns = item.turns[: len(done) + 1]
        if template == "alpaca":
            messages = [{"role": "user", "content": alpaca_conversation(list(turns), done)}]
        else:
            messages = [{"role": "user", "content": turns[0]}]
            for answer, turn in zip(done, turns[1:]):
                messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": turn}]
        params = params_of(item)
        jobs.append(Job(job_id("generate", model, template, params, messages), messages, params,
                        meta={"key": item.key}, source={"question_id": item.key, "turn": len(done) + 1}))
    return jobs


class PackedLinear(torch.nn.Module):
    """An inference-only nn.Linear whose weight oneDNN has laid out once for CPU matmuls in bf16.

    Decoding multiplies a few rows by every weight matrix at each step; with a plain weight oneDNN reorders
    the matrix on every call, which doubles the memory traffic that bounds the step (measured here: 166 vs
    85 us for a 576x1536 layer at batch 8). This is the packing inductor's freezing pass does, without compiling;
    outputs are bit-identical (tested)."""

    def __init__(self, linear: torch.nn.Linear, batch_size: int):
        super().__init__()
        self.packed_weight = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), batch_size)
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed_weight, self.bias, "none", [], "")


def pack_linear_layers(model: torch.nn.Module, batch_size: int) -> int:
    """Swap every bf16 nn.Linear of a CPU model for a PackedLinear; returns how many (0 without oneDNN bf16)."""
    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return 0
    swaps = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if isinstance(child, torch.nn.Linear) and child.weight.dtype == torch.bfloat16
             and child.weight.device.type == "cpu"]
    for parent, name, child in swaps:
        setattr(parent, name, PackedLinear(child, batch_size))
    return len(swaps)


class LocalGenerator:
    """transformers generation for a path or Hub id; a directory with adapter_config.json is a LoRA adapter."""

    def __init__(
        self, model_path: str, *, template: str, batch_size: int = 8, precision: str = "auto",
        pack_weights: bool = True,
    ):
        """`precision`: auto (bf16 where native), bf16 or fp32 weights."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = inference_device()
        bf16 = use_bf16(precision, device)
        logger.info("generation: %s", describe_choice(bf16, precision, device))
        placement = {"dtype": torch.bfloat16 if bf16 else torch.float32, "device_map": device}
        if (Path(model_path) / "adapter_config.json").is_file():
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(model_path, **placement).merge_and_unload()
        else:
            model = AutoModelForCausalLM.from_pretrained(model_path, **placement)
        self.model = model.eval()
        if pack_weights:
            pack_linear_layers(self.model, batch_size)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"  # generation continues on the right
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.template = template
        self.batch_size = batch_size
        self.new_tokens = 0
        self.seconds = 0.0

    def render(self, job: Job) -> str:
        if self.template == "alpaca":
            return job.messages[-1]["content"]
        return self.tokenizer.apply_chat_template(job.messages, tokenize=False, add_generation_prompt=True)

    @torch.inference_mode()
    def run(self, jobs: list[Job], log: RunLog, *, num_return_sequences: int = 1, progress=None) -> None:
        """Generate every job not yet in the log; with num_return_sequences > 1 the log entry holds a list. A batch
        holds jobs of the same parameters (MT-bench samples each category at its own temperature), longest first."""
        groups: dict[str, list[Job]] = {}
        for job in jobs:
            if job.id not in log.done:
                groups.setdefault(json.dumps(job.params, sort_keys=True), []).append(job)
        batches = []
        for group in groups.values():
            group.sort(key=lambda j: -len(self.render(j)))
            batches += [group[start : start + self.batch_size] for start in range(0, len(group), self.batch_size)]
        for batch in batches:
            texts = self.generate([self.render(j) for j in batch], batch[0].params, num_return_sequences)
            for i, job in enumerate(batch):
                answers = texts[i * num_return_sequences : (i + 1) * num_return_sequences]
                log.append(
                    {"id": job.id, "status": "done", "text": answers[0] if num_return_sequences == 1 else answers}
                )
            if progress:
                progress.update(len(batch))

    @torch.inference_mode()
    def generate(self, prompts: list[str], params: dict, num_return_sequences: int = 1) -> list[str]:
        # the Alpaca prompt is plain text: the tokenizer adds its special tokens (BOS) as in training
        inputs = self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=self.template == "alpaca"
        )
        sampling = params.get("temperature", 0) > 0
        if sampling:  # every batch from the same seed, as FastChat seeds each answer: a resumed run draws alike
            torch.manual_seed(params.get("seed", 0))
        started = time.perf_counter()
        # top-k is left to the model's generation config (transformers' default 50 unless the model sets one), as
        # FastChat's gen_model_answer.py samples: passing top_k=None would switch it off
        output = self.model.generate(
            **inputs.to(self.model.device),
            max_new_tokens=params.get("max_tokens", 512),
            do_sample=sampling,
            temperature=params["temperature"] if sampling else None,
            top_p=params.get("top_p", 1.0) if sampling else None,
            num_return_sequences=num_return_sequences,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        self.seconds += time.perf_counter() - started
        new = output[:, inputs["input_ids"].shape[1] :]
        self.new_tokens += int((new != self.tokenizer.pad_token_id).sum())
        return [text.strip() for text in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
