"""Best-of-N (the paper's Figure 5): N sampled answers per question from a policy, ranked by a reward model and
written as N answer files, R1 (highest reward) to RN (lowest), each judged against a reference like any model."""

from pathlib import Path

from tqdm.auto import tqdm

from gpt4llm.benchmarks import answer_record, load_benchmark, select
from gpt4llm.data import DataError
from gpt4llm.files import write_rows
from gpt4llm.teacher.runlog import RunLog
from gpt4llm.reward import RewardModel
from gpt4llm.templates import alpaca_prompt

from .generate import LocalGenerator, prompt_jobs


def rerank(policy: str, reward: str, questions: str, output_dir: Path, *, n: int = 5, template: str = "alpaca",
           model_id: str | None = None, temperature: float = 0.7, top_p: float = 1.0, max_new_tokens: int = 512,
           batch_size: int = 4, limit: int | None = None) -> list[Path]:
    """`python -m eval best-of-n`: `n` sampled answers per question from `policy`, ranked by the `reward` model,
    written to OUTPUT_DIR/R1.jsonl (highest reward) .. Rn.jsonl, with every sample's reward in rewards.jsonl;
    returns the R files in rank order."""
    if n < 1:
        raise DataError(f"--n {n}: best-of-n needs at least one sample per question")
    if temperature <= 0 and n > 1:
        raise DataError("best-of-n needs sampling: --temperature above 0")
    bench = load_benchmark(questions)
    if bench.shape == "mt_bench":
        raise DataError(f"{bench.source}: best-of-n reranks single-turn answers; MT-bench's are two-turn")
    items = select(bench.items, limit=limit)
    params = {"temperature": temperature, "top_p": top_p, "max_tokens": max_new_tokens}
    jobs = prompt_jobs(items, f"{policy}#n={n}", template, params)
    out = Path(output_dir)
    log = RunLog(out / "samples.records.jsonl")
    generator = LocalGenerator(policy, template=template, batch_size=batch_size)
    with tqdm(total=len(jobs), desc=f"{n} samples per question") as bar:
        generator.run(jobs, log, num_return_sequences=n, progress=bar)
    log.close()

    scorer = RewardModel.from_pretrained(reward)
    name = model_id or Path(policy).name
    ranked_files = [[] for _ in range(n)]
    scores = []
    for item, job in zip(tqdm(items, desc="scoring"), jobs):
        samples = log.done[job.id]["text"]
        samples = [samples] if isinstance(samples, str) else samples  # the generator logs one sample as plain text
        rewards = scorer.score(alpaca_prompt(item.instruction, item.input), samples)
        order = sorted(range(len(samples)), key=lambda i: -rewards[i])
        scores.append({"question_id": item.key, "rewards": sorted(rewards, reverse=True)})
        for rank, i in enumerate(order, start=1):
            ranked_files[rank - 1].append(
                answer_record(item, f"{name}-R{rank}", samples[i], {"reward": rewards[i], "rank": rank, **params})
            )
    paths = []
    for rank, rows in enumerate(ranked_files, start=1):
        path = out / f"R{rank}.jsonl"
        write_rows(path, rows)
        paths.append(path)
    write_rows(out / "rewards.jsonl", scores)
    return paths
