"""Best-of-N (the paper's Figure 5): N sampled answers per question from a policy, ranked by a reward model and
written as N answer files, R1 (highest reward) to RN (lowest), each judged against a reference like any model."""

from pathlib import Path

from tqdm.auto import tqdm

from gpt4llm.benchmarks import answer_record, read_benchmark, select, write_rows
from gpt4llm.data import DataError, load_records
from gpt4llm.jobs import RunLog
from gpt4llm.reward import RewardModel
from gpt4llm.templates import alpaca_prompt

from .generate import LocalGenerator, prompt_jobs


def rerank(args) -> list[Path]:
    if args.n < 1:
        raise DataError(f"--n {args.n}: best-of-n needs at least one sample per question")
    if args.temperature <= 0 and args.n > 1:
        raise DataError("best-of-n needs sampling: --temperature above 0")
    bench = read_benchmark(load_records(args.questions))
    if bench.shape == "mt_bench":
        raise DataError(f"{bench.source}: best-of-n reranks single-turn answers; MT-bench's are two-turn")
    items = select(bench.items, limit=args.limit)
    params = {"temperature": args.temperature, "top_p": args.top_p, "max_tokens": args.max_new_tokens}
    jobs = prompt_jobs(items, f"{args.policy}#n={args.n}", args.template, params)
    out = Path(args.output_dir)
    log = RunLog(out / "samples.records.jsonl")
    generator = LocalGenerator(args.policy, template=args.template, batch_size=args.batch_size)
    with tqdm(total=len(jobs), desc=f"{args.n} samples per question") as bar:
        generator.run(jobs, log, num_return_sequences=args.n, progress=bar)
    log.close()

    scorer = RewardModel.from_pretrained(args.reward)
    name = args.model_id or Path(args.policy).name
    ranked_files = [[] for _ in range(args.n)]
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
