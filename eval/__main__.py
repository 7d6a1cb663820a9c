"""The paper's evaluation.

    python -m eval generate  --model outputs/llama-gpt4-7b --questions vicuna80 --output answers/llama-gpt4.jsonl
    python -m eval generate  --model gpt-4 --base-url https://api.openai.com/v1 --questions vicuna80 --output answers/gpt4.jsonl
    python -m eval judge     --questions vicuna80 --answers answers/llama-gpt4.jsonl --reference answers/gpt4.jsonl \
                             --model gpt-4 --output reviews/llama-gpt4_vs_gpt4.jsonl
    python -m eval aggregate --questions vicuna80 --answers A.jsonl B.jsonl --reviews reviews.jsonl
    python -m eval generate  --model outputs/llama-gpt4-7b --questions unnatural_core --sample 9000 --output unnatural.json
    python -m eval rouge     --input unnatural.json [more.json ...]
    python -m eval best-of-n --policy outputs/llama-gpt4-7b --reward outputs/opt-1.3b-reward --questions vicuna80 --n 5 --output-dir bon/

Benchmarks are named (vicuna80, user_oriented252, ...: downloaded once and verified, see gpt4llm/sources.py) or
given as local files. Generation and judging log every finished request and resume where they stopped.
"""

import argparse
import asyncio
import json
import logging
import random
import sys
from pathlib import Path

from tqdm.auto import tqdm

from gpt4llm.data import DataError, load_records
from gpt4llm.jobs import RunLog, run_jobs, write_json_atomic
from gpt4llm.teacher import Teacher, TeacherConfig, TeacherError

from . import judge as judging
from .benchmarks import benchmark, benchmark_items
from .generate import LocalGenerator, prompt_jobs
from .report import judge_table, rouge_table
from .rouge import rouge_l

logger = logging.getLogger("eval")
FASTCHAT_REVIEWERS = ("fastchat_reviewers", "fastchat_review_prompts")  # registry names in gpt4llm/sources.py


def generate(args) -> None:
    items, schema = benchmark_items(benchmark(args.questions))
    items = items[: args.limit] if args.limit else items
    if args.sample and args.sample < len(items):  # the paper scores a random 9K of Unnatural's 68K instances
        chosen = set(random.Random(args.seed).sample(range(len(items)), args.sample))
        items = [item for i, item in enumerate(items) if i in chosen]
    params = {"temperature": args.temperature, "top_p": args.top_p, "max_tokens": args.max_new_tokens}
    jobs = prompt_jobs(items, args.model, args.template, params)
    log = RunLog(Path(f"{args.output}.records.jsonl"))
    if args.base_url:
        teacher = Teacher(TeacherConfig(model=args.model, base_url=args.base_url, concurrency=args.concurrency))
        summary = asyncio.run(_run_and_close(jobs, teacher, log))
        logger.info("; ".join(summary.lines()))
    else:
        generator = LocalGenerator(args.model, template=args.template, batch_size=args.batch_size, precision=args.precision)
        with tqdm(total=len(jobs), desc=f"generate ({Path(args.model).name})") as bar:
            generator.run(jobs, log, progress=bar)
        if generator.seconds:
            logger.info("%d new tokens in %.1fs: %.1f tokens/s", generator.new_tokens, generator.seconds, generator.new_tokens / generator.seconds)
    model_id = args.model_id or Path(args.model).name
    rows = []
    for item, job in zip(items, jobs):
        if job.id not in log.done:
            continue
        text = log.done[job.id]["text"]
        if schema == "fastchat":
            rows.append({"answer_id": f"{model_id}-{item['key']}", "question_id": item["key"], "model_id": model_id,
                         "text": text, "metadata": {"template": args.template, **params}})  # fmt: skip
        else:
            rows.append({**item["row"], "output": text})
    _write(args.output, rows)
    log.close()
    logger.info("wrote %d answers to %s", len(rows), args.output)


async def _run_and_close(jobs, teacher, log):
    try:
        return await run_jobs(jobs, teacher, log, desc=f"answers ({teacher.config.model})")
    finally:
        await teacher.close()


def judge(args) -> None:
    every_question = judging.questions(benchmark(args.questions))
    qs = dict(list(every_question.items())[: args.limit]) if args.limit else every_question
    first = judging.answers(load_records(args.answers), every_question, required=qs)
    second = judging.answers(load_records(args.reference), every_question, required=qs)
    revs = judging.reviewers(benchmark(args.reviewers), benchmark(args.review_prompts))
    jobs = judging.review_jobs(
        qs, first, second, revs, args.model, both_orders=not args.single_order, extra_body=args.extra_body, max_tokens=args.max_tokens
    )
    log = RunLog(Path(f"{args.output}.records.jsonl"))
    teacher = Teacher(TeacherConfig(model=args.model, base_url=args.base_url, concurrency=args.concurrency))
    summary = asyncio.run(_run_and_close(jobs, teacher, log))
    logger.info("; ".join(summary.lines()))
    reviews = judging.review_records(jobs, log.done, args.model)
    _write(args.output, reviews)
    log.close()
    _print_judgement(reviews, [first, second], qs, args.output)


def aggregate(args) -> None:
    qs = judging.questions(benchmark(args.questions))
    answer_sets = [judging.answers(load_records(path), qs) for path in args.answers]
    reviews = []
    for path in args.reviews:
        records = load_records(path)
        for row, where in zip(records.rows, records.locations):
            for field in ("question_id", "answer1_id", "answer2_id", "text"):
                if field not in row:
                    raise DataError(f"{where}: field '{field}' is missing")
            reviews.append({**row, "score": judging.parse_review(row["text"])})
    _print_judgement(reviews, answer_sets, qs, args.output)


def _print_judgement(reviews, answer_sets, qs, output) -> None:
    model_of = {a["answer_id"]: a["model_id"] for answers in answer_sets for a in answers.values()}
    unknown = {r["answer1_id"] for r in reviews} - set(model_of)
    if unknown:
        raise DataError(f"reviews name answer ids that no answer file has: {sorted(unknown)[:3]}")
    by_pair: dict[tuple, list] = {}
    for review in reviews:
        by_pair.setdefault(frozenset((model_of[review["answer1_id"]], model_of[review["answer2_id"]])), []).append(review)
    results = [judging.aggregate(group, model_of, {q: v["category"] for q, v in qs.items()}) for group in by_pair.values()]
    for result in results:
        print("\n".join(judge_table(result)) + "\n")
    if output:
        write_json_atomic(Path(f"{output}.summary.json"), results)


def rouge(args) -> None:
    results = {}
    for path in args.input:
        records = load_records(path)
        rows = [r for r in records.rows if isinstance(r, dict)]
        for row, where in zip(records.rows, records.locations):
            for field in ("output", "label"):
                if not isinstance(row.get(field) if isinstance(row, dict) else None, str):
                    raise DataError(f"{where}: field '{field}' must be a string")
        results[Path(path).stem] = rouge_l(rows)
    print("\n".join(rouge_table(results)))
    if args.output:
        write_json_atomic(Path(args.output), results)


def report(args) -> None:
    from .report import plot_output_lengths, plot_rouge, plot_totals, spacy_parses, verb_noun_pairs, write_report

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    if args.judge:
        results = [result for path in args.judge for result in json.loads(Path(path).read_text())]
        for result in results:
            sections.append((f"{result['models'][0]} vs {result['models'][1]} (judged)", judge_table(result)))
        plot_totals(results, out / "judge_totals.png", "total scores (relative to the reference)")
        sections.append(("Figure: total scores", ["![](judge_totals.png)"]))
    if args.rouge:
        results = {name: result for path in args.rouge for name, result in json.loads(Path(path).read_text()).items()}
        sections.append(("ROUGE-L by reference length (count)", rouge_table(results)))
        plot_rouge(results, out / "rouge_buckets.png")
        sections.append(("Figure: ROUGE-L by reference length", ["![](rouge_buckets.png)"]))
    for path in args.human:
        from .human.results import human_table, plot_pies

        result = json.loads(Path(path).read_text())
        name = f"human_eval_{len(sections)}.png"
        plot_pies(result, out / name)
        sections.append((f"{result['models'][0]} vs {result['models'][1]} (human, HHH)", human_table(result) + ["", f"![]({name})"]))
    if args.datasets:
        datasets = {Path(p).stem: [{"instruction": r["instruction"], "output": r["output"]} for r in load_records(p).rows] for p in args.datasets}
        plot_output_lengths(datasets, out / "output_lengths.png")
        lines = ["![](output_lengths.png)"]
        for name, rows in datasets.items():
            parses = spacy_parses([r["instruction"] for r in rows])
            if parses is None:
                lines.append(f"\n{name}: verb-noun pairs need spaCy's en_core_web_sm (not installed).")
                continue
            top = verb_noun_pairs(parses).most_common(10)
            lines.append(f"\n{name}: most frequent root verb / direct object: " + ", ".join(f"{v} {o} ({n})" for (v, o), n in top))
        sections.append(("Data statistics (Figure 1)", lines))
    write_report(out / "report.md", sections)
    logger.info("wrote %s", out / "report.md")


def best_of_n(args) -> None:
    from .best_of_n import rerank

    rerank(args)


def _write(path: str, rows: list[dict]) -> None:
    path = Path(path)
    if path.suffix == ".jsonl":
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        tmp.replace(path)
    else:
        write_json_atomic(path, rows)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="a model's answers to a benchmark")
    gen.add_argument("--model", required=True, help="local path or Hub id (LoRA adapters too); with --base-url, the endpoint's model")
    gen.add_argument("--questions", required=True, help="benchmark name or file")
    gen.add_argument("--output", required=True)
    gen.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of a local model")
    gen.add_argument("--template", choices=["alpaca", "chat"], default="alpaca", help="alpaca for models of this repo's recipes")
    gen.add_argument("--model-id", help="the name in the answer file (default: the model's last path part)")
    gen.add_argument("--batch-size", type=int, default=8)
    gen.add_argument("--max-new-tokens", type=int, default=512)
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--concurrency", type=int, default=32, help="requests in flight (as data_gen)")
    gen.add_argument("--limit", type=int, help="the first N prompts")
    gen.add_argument("--sample", type=int, help="a random N prompts (e.g. 9000 of unnatural_core, as the paper)")
    gen.add_argument("--seed", type=int, default=0, help="for --sample")
    gen.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                     help="weights in bf16 or fp32; auto: bf16 where the GPU or CPU computes it natively")

    jud = commands.add_parser("judge", help="pairwise reviews of two answer files by a judge model")
    jud.add_argument("--questions", required=True)
    jud.add_argument("--answers", required=True, help="the model's answers (FastChat schema)")
    jud.add_argument("--reference", required=True, help="the reference model's answers (e.g. GPT-4's or ChatGPT's)")
    jud.add_argument("--model", default="gpt-4", help="the judge")
    jud.add_argument("--base-url")
    jud.add_argument("--reviewers", default=FASTCHAT_REVIEWERS[0], help="reviewer.jsonl (name or file)")
    jud.add_argument("--review-prompts", default=FASTCHAT_REVIEWERS[1], help="prompt.jsonl (name or file)")
    jud.add_argument("--limit", type=int, help="the first N questions (as generate --limit)")
    jud.add_argument("--single-order", action="store_true", help="FastChat's protocol: only the model's answer first")
    jud.add_argument("--concurrency", type=int, default=32, help="requests in flight (as data_gen)")
    jud.add_argument("--extra-body", type=json.loads, metavar="JSON", help="endpoint-specific fields, e.g. a llama.cpp grammar")
    jud.add_argument("--max-tokens", type=int, help="cap the reviews' length (default: the reviewer's, 1024)")
    jud.add_argument("--output", required=True, help="reviews (FastChat schema, .jsonl)")

    agg = commands.add_parser("aggregate", help="totals from existing review files (ours or FastChat's)")
    agg.add_argument("--questions", required=True)
    agg.add_argument("--answers", nargs="+", required=True, help="the answer files the reviews refer to")
    agg.add_argument("--reviews", nargs="+", required=True)
    agg.add_argument("--output", help="also write OUTPUT.summary.json")

    rou = commands.add_parser("rouge", help="ROUGE-L by reference length of predictions with labels")
    rou.add_argument("--input", nargs="+", required=True, help="records with `output` and `label` (e.g. from generate)")
    rou.add_argument("--output", help="results as JSON")

    rep = commands.add_parser("report", help="Markdown report and figures from judge, rouge and dataset files")
    rep.add_argument("--judge", nargs="*", default=[], help="OUTPUT.summary.json files of judge/aggregate")
    rep.add_argument("--rouge", nargs="*", default=[], help="JSON files of rouge --output")
    rep.add_argument("--datasets", nargs="*", default=[], help="Alpaca-schema datasets for the data statistics")
    rep.add_argument("--human", nargs="*", default=[], help="human_eval.json files of `python -m eval.human results`")
    rep.add_argument("--output-dir", required=True)

    bon = commands.add_parser("best-of-n", help="N samples per question reranked by a reward model: R1..RN files")
    bon.add_argument("--policy", required=True)
    bon.add_argument("--reward", required=True)
    bon.add_argument("--questions", required=True)
    bon.add_argument("--n", type=int, default=5)
    bon.add_argument("--output-dir", required=True)
    bon.add_argument("--template", choices=["alpaca", "chat"], default="alpaca")
    bon.add_argument("--model-id", help="name of the policy in the answer files (default: the path's last part)")
    bon.add_argument("--temperature", type=float, default=0.7)
    bon.add_argument("--top-p", type=float, default=1.0)
    bon.add_argument("--max-new-tokens", type=int, default=512)
    bon.add_argument("--batch-size", type=int, default=4)
    bon.add_argument("--limit", type=int)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    command = {"generate": generate, "judge": judge, "aggregate": aggregate, "rouge": rouge, "report": report, "best-of-n": best_of_n}
    try:
        command[args.command](args)
    except (DataError, TeacherError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
