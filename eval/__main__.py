"""The paper's evaluation.

    python -m eval generate  --model outputs/llama-gpt4-7b --questions vicuna80 --output answers/llama-gpt4.jsonl
    python -m eval generate  --model gpt-4 --base-url https://api.openai.com/v1 --questions vicuna80 \
                             --output answers/gpt4.jsonl
    python -m eval judge     --questions vicuna80 --answers answers/llama-gpt4.jsonl --reference answers/gpt4.jsonl \
                             --model gpt-4 --output reviews/llama-gpt4_vs_gpt4.jsonl
    python -m eval aggregate --questions vicuna80 --answers A.jsonl B.jsonl --reviews reviews.jsonl
    python -m eval generate  --model outputs/llama-gpt4-7b --questions release:unnatural_gpt4 --sample 9000 \
                             --output llama-gpt4.jsonl
    python -m eval generate  --predictions --model-id gpt-4 --questions release:unnatural_gpt4 --sample 9000 \
                             --output gpt4.jsonl
    python -m eval rouge     --input llama-gpt4.jsonl gpt4.jsonl
    python -m eval best-of-n --policy outputs/llama-gpt4-7b --reward outputs/opt-1.3b-reward --questions vicuna80 \
                             --n 5 --output-dir bon/
    python -m eval generate  --model outputs/llama-gpt4-7b --questions mt_bench --output mt_bench/llama-gpt4.jsonl
    python -m eval grade     --questions mt_bench --answers mt_bench/llama-gpt4.jsonl --model gpt-4 \
                             --output mt_bench/gpt-4_single.jsonl
    python -m eval grade     --questions mt_bench --answers mt_bench/llama-gpt4.jsonl --mode pairwise-baseline \
                             --baseline mt_bench/gpt-3.5-turbo.jsonl --model gpt-4 --output mt_bench/gpt-4_pair.jsonl
    python -m eval grade-totals --questions mt_bench --judgments mt_bench/gpt-4_single.jsonl

Benchmarks are named (vicuna80, user_oriented252, ...: downloaded once and verified, see gpt4llm/sources.py) or
given as local files. MT-bench (or any file in FastChat's llm_judge question schema) is answered turn by turn
and graded by `grade`, FastChat's llm_judge protocol. Generation and judging log every finished request and resume
where they stopped; `judge`, `grade` and endpoint `generate` take the teacher options of data_gen (limits, --batch,
--dry-run, ...) and write the requests that failed to OUTPUT.failures.jsonl.

Exit status: 0 done; 1 an error stopped the run; 2 bad command line; 3 done, but requests failed (listed in
OUTPUT.failures.jsonl; the same command again retries them).
"""

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from gpt4llm.benchmarks import answer_record, model_id, read_answers, read_benchmark, record_id, select, write_rows
from gpt4llm.data import DataError, alpaca_rows, load_records, text_field
from gpt4llm.jobs import write_json_atomic
from gpt4llm.teacher_options import add_teacher_options, teacher_config

from . import judge as judging
from .mt_bench import MODES

logger = logging.getLogger("eval")
FASTCHAT_REVIEWERS = ("fastchat_reviewers", "fastchat_review_prompts")  # registry names in gpt4llm/sources.py
TEACHER_ONLY = ("batch", "rpm", "tpm", "dry_run", "cancel_batches")  # options that need an endpoint


def generate(args) -> int:
    from gpt4llm.jobs import RunLog, dry_run, report_failures, send

    from .generate import prompt_jobs

    bench = read_benchmark(load_records(args.questions))
    items = select(bench.items, limit=args.limit, sample=args.sample, seed=args.seed)
    if args.predictions:  # the answers the benchmark ships (GPT-4's, in the released Unnatural file): no model runs
        _write_predictions(args, bench, items)
        return 0
    if not args.model:
        raise DataError("generate needs --model (or --predictions to write the answers the benchmark carries)")
    if bench.shape == "mt_bench":
        return _generate_turns(args, items)
    temperature = 0.0 if args.temperature is None else args.temperature
    params = {"temperature": temperature, "top_p": args.top_p, "max_tokens": args.max_new_tokens or 512}
    jobs = prompt_jobs(items, args.model, args.template, params)
    for item, job in zip(items, jobs):  # how the failures file names a prompt
        job.source = {"question_id": item.key}
    if args.base_url and args.dry_run:
        dry_run(jobs, teacher_config(args))
        return 0
    log = RunLog(Path(f"{args.output}.records.jsonl"))
    if args.base_url:
        summary = asyncio.run(send(jobs, teacher_config(args), log, desc=f"answers ({args.model})"))
        logger.info("; ".join(summary.lines()))
    else:
        from tqdm.auto import tqdm

        from .generate import LocalGenerator

        generator = LocalGenerator(
            args.model, template=args.template, batch_size=args.batch_size, precision=args.precision
        )
        with tqdm(total=len(jobs), desc=f"generate ({Path(args.model).name})") as bar:
            generator.run(jobs, log, progress=bar)
        if generator.seconds:
            logger.info("%d new tokens in %.1fs: %.1f tokens/s",
                        generator.new_tokens, generator.seconds, generator.new_tokens / generator.seconds)
    model_id = args.model_id or Path(args.model).name
    metadata = {"template": args.template, **params}
    rows = [answer_record(item, model_id, log.done[job.id]["text"], metadata)
            for item, job in zip(items, jobs) if job.id in log.done]
    write_rows(args.output, rows)
    logger.info("wrote %d answers to %s", len(rows), args.output)
    status = report_failures(args.output, jobs, log)
    log.close()
    return status


def _generate_turns(args, items) -> int:
    """Multi-turn questions (MT-bench), turn by turn: each turn's prompt holds the earlier turns and the model's
    answers to them; answers in FastChat's llm_judge schema, for the questions answered on every turn."""
    import time

    from gpt4llm.benchmarks import turn_answer_record
    from gpt4llm.jobs import RunLog, dry_run, report_failures, send

    from .generate import turn_jobs
    from .mt_bench import answer_params

    def params_of(item):
        return answer_params(item.category, args.temperature, args.top_p, args.max_new_tokens)

    answers = {item.key: [] for item in items}
    if args.base_url and args.dry_run:
        dry_run(turn_jobs(items, answers, args.model, args.template, params_of), teacher_config(args))
        later = sum(len(item.turns) - 1 for item in items)
        print(f"=== and {later} requests for the later turns, each holding the answers before it")
        return 0
    log = RunLog(Path(f"{args.output}.records.jsonl"))
    generator, sent = None, []
    if not args.base_url:
        from .generate import LocalGenerator

        generator = LocalGenerator(args.model, template=args.template, batch_size=args.batch_size,
                                   precision=args.precision)  # fmt: skip
    for turn in range(1, max(len(item.turns) for item in items) + 1):
        asking = [item for item in items if len(answers[item.key]) == turn - 1 < len(item.turns)]
        jobs = turn_jobs(asking, answers, args.model, args.template, params_of)
        sent += jobs
        if args.base_url:
            summary = asyncio.run(send(jobs, teacher_config(args), log, desc=f"turn {turn} ({args.model})"))
            logger.info("turn %d: %s", turn, "; ".join(summary.lines()))
        else:
            from tqdm.auto import tqdm

            with tqdm(total=len(jobs), desc=f"turn {turn} ({Path(args.model).name})") as bar:
                generator.run(jobs, log, progress=bar)
        for item, job in zip(asking, jobs):
            if job.id in log.done:
                answers[item.key].append(log.done[job.id]["text"])
    model_id = args.model_id or Path(args.model).name
    now = time.time()
    complete = [item for item in items if len(answers[item.key]) == len(item.turns)]
    write_rows(args.output, [turn_answer_record(item, model_id, answers[item.key], now) for item in complete])
    logger.info("wrote the answers to every turn of %d questions to %s", len(complete), args.output)
    status = report_failures(args.output, sent, log)
    log.close()
    return status


def _write_predictions(args, bench, items) -> None:
    if not args.model_id:
        raise DataError(
            "--predictions needs --model-id: the name of the model whose answers the benchmark carries (e.g. gpt-4)"
        )
    without = [item for item in items if item.prediction is None]
    if without:
        raise DataError(
            f"{without[0].where}: field 'output' is missing: --predictions needs a model's output beside each label"
        )
    rows = [answer_record(item, args.model_id, item.prediction, {"source": bench.source}) for item in items]
    write_rows(args.output, rows)
    logger.info("wrote the %d answers of %s that %s carries to %s",
                len(rows), args.model_id, bench.source, args.output)


def judge(args) -> int:
    bench = read_benchmark(load_records(args.questions))
    if bench.shape == "mt_bench":
        raise DataError(f"{bench.source}: multi-turn questions (MT-bench) are judged with `python -m eval grade`")
    items = bench.items[: args.limit] if args.limit else bench.items
    answers, reference = (read_answers(load_records(path), bench.keys(), required=[i.key for i in items])
                          for path in (args.answers, args.reference))
    revs = judging.reviewers(load_records(args.reviewers), load_records(args.review_prompts))
    jobs = judging.review_jobs(
        items, answers, reference, revs, args.model,
        both_orders=not args.single_order, extra_body=args.extra_body, max_tokens=args.max_tokens,
    )
    sent = _send_judge_jobs(args, jobs, f"reviews ({args.model})",
                            lambda done: judging.review_records(jobs, done, args.model))  # fmt: skip
    if sent is None:
        return 0
    reviews, status = sent
    by_id = {a["answer_id"]: a for a in (*answers.values(), *reference.values())}
    _print_judgement(reviews, by_id, bench, [model_id(reference, args.reference)], args.output)
    return status


def grade(args) -> int:
    """MT-bench: single-answer grading or pairwise judgments of llm_judge answer files, FastChat's protocol."""
    import time

    from gpt4llm.benchmarks import read_turn_answers

    from . import mt_bench

    bench = read_benchmark(load_records(args.questions))
    if bench.shape != "mt_bench":
        raise DataError(f"{bench.source}: grade reads questions in FastChat's llm_judge schema (question_id, "
                        "category, turns), e.g. mt_bench; `eval judge` reviews the others")  # fmt: skip
    items = bench.items[: args.limit] if args.limit else bench.items
    by_key = {item.key: item for item in bench.items}
    keys = [item.key for item in items]
    answers = {}
    for path in [*args.answers, *([args.baseline] if args.baseline else [])]:
        records = load_records(path)
        rows = read_turn_answers(records, by_key, required=keys)
        name = model_id(rows, path)
        if name in answers:
            raise DataError(f"{path}: model {name!r} is in two answer files; give each its own --model-id")
        answers[name] = rows
    models = list(answers)
    if args.mode == "single":
        if args.baseline:
            raise DataError("--baseline goes with --mode pairwise-baseline")
        pairs = []
    elif args.mode == "pairwise-baseline":
        if not args.baseline:
            raise DataError("--mode pairwise-baseline needs --baseline, the baseline model's answers")
        pairs = [(model, models[-1]) for model in models[:-1]]
    else:
        if args.baseline or len(models) < 2:
            raise DataError("--mode pairwise-all judges every pair of two or more --answers files (and no --baseline)")
        pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1 :]]
    reference_name = args.reference_answers or ("mt_bench_reference_gpt4" if args.questions == "mt_bench" else None)
    reference_answers = None
    if reference_name:
        reference_answers = read_turn_answers(load_records(reference_name), by_key)
    refs = mt_bench.references(items, reference_answers, reference_name)
    prompts_file = load_records(args.judge_prompts)
    prompts = mt_bench.judge_prompts(prompts_file)
    params = {**mt_bench.JUDGE_PARAMS, **({"max_tokens": args.max_tokens} if args.max_tokens else {})}
    params |= {"extra_body": args.extra_body} if args.extra_body else {}
    if args.mode == "single":
        jobs = mt_bench.single_jobs(items, answers, refs, prompts, args.model, params, prompts_file.source)
    else:
        jobs = mt_bench.pair_jobs(items, pairs, answers, refs, prompts, args.model, params, prompts_file.source)
    to_records = mt_bench.single_records if args.mode == "single" else mt_bench.pair_records
    sent = _send_judge_jobs(args, jobs, f"{args.mode} judgments ({args.model})",
                            lambda done: to_records(jobs, done, time.time()))  # fmt: skip
    if sent is None:
        return 0
    records, status = sent
    if records:
        _print_grades(load_records(str(args.output)), by_key, args.output, resamples=args.bootstrap, seed=args.seed)
    return status


def _send_judge_jobs(args, jobs, desc: str, to_records) -> tuple[list[dict], int] | None:
    """Send a judge's jobs through the teacher client (None after --dry-run has printed them), write the records
    `to_records(done)` makes of the answers atomically, and name the failures: (records, exit status)."""
    from gpt4llm.jobs import RunLog, dry_run, report_failures, send

    config = teacher_config(args)
    if args.dry_run:
        dry_run(jobs, config)
        return None
    log = RunLog(Path(f"{args.output}.records.jsonl"))
    summary = asyncio.run(send(jobs, config, log, desc=desc))
    logger.info("; ".join(summary.lines()))
    records = to_records(log.done)
    write_rows(args.output, records)
    status = report_failures(args.output, jobs, log)
    log.close()
    return records, status


def grade_totals(args) -> None:
    bench = read_benchmark(load_records(args.questions))
    if bench.shape != "mt_bench":
        raise DataError(f"{bench.source}: grade-totals reads questions in FastChat's llm_judge schema (question_id, "
                        "category, turns), e.g. mt_bench")  # fmt: skip
    by_key = {item.key: item for item in bench.items}
    files = [load_records(path) for path in args.judgments]
    _print_grades(files, by_key, args.output, resamples=args.bootstrap, seed=args.seed)


def _print_grades(judgment_files, items: dict, output, **bootstrap) -> list[dict]:
    """Totals of judgment files (single and pairwise alike), printed and written to OUTPUT.summary.json."""
    from .mt_bench import model_totals, pair_totals, read_judgments, single_totals
    from .report import mt_bench_table, mt_model_table, mt_pair_table

    rows = {"single": [], "pairwise": []}
    for records in judgment_files if isinstance(judgment_files, list) else [judgment_files]:
        kind, found = read_judgments(records, items)
        rows[kind] += found
    results = single_totals(rows["single"], items, **bootstrap) + pair_totals(rows["pairwise"], items, **bootstrap)
    singles = [r for r in results if r["kind"] == "single"]
    if singles:
        print("\n".join(mt_bench_table(singles)) + "\n")
    pairs = [r for r in results if r["kind"] == "pairwise"]
    for result in pairs:
        print("\n".join(mt_pair_table(result)) + "\n")
    if len({frozenset(r["models"]) for r in pairs}) > 1:  # pairwise-all: each model against all it met
        results += model_totals(pairs)
        print("\n".join(mt_model_table([r for r in results if r["kind"] == "pairwise-model"])) + "\n")
    if output:
        write_json_atomic(Path(f"{output}.summary.json"), results)
    return results


def aggregate(args) -> None:
    bench = read_benchmark(load_records(args.questions))
    by_id = {}
    for path in args.answers:
        for answer in read_answers(load_records(path), bench.keys()).values():
            by_id[answer["answer_id"]] = answer
    reviews = []
    for path in args.reviews:
        records = load_records(path)
        for row, where in zip(records.rows, records.locations):
            text_field(row, "text", where)
            for name in ("answer1_id", "answer2_id"):
                answer = by_id.get(record_id(row, name, where))
                if answer is None:
                    raise DataError(
                        f"{where}: field '{name}' {row[name]!r} is in none of the answer files {args.answers}"
                    )
                if answer["question_id"] != record_id(row, "question_id", where):
                    raise DataError(f"{where}: field '{name}' {row[name]!r} answers question "
                                    f"{answer['question_id']!r}, not {row['question_id']!r}")
            reviews.append(row)
    _print_judgement(reviews, by_id, bench, args.reference, args.output, resamples=args.bootstrap, seed=args.seed)


def _print_judgement(reviews, answers, bench, references, output, **bootstrap) -> None:
    """Totals per model pair; each pair's reference is the one of its models in `references`, or else the model
    of its first review's Assistant 1 (FastChat's order)."""
    from .report import judge_table

    by_pair: dict[frozenset, list] = {}
    for review in reviews:
        pair = (answers[review["answer1_id"]]["model_id"], answers[review["answer2_id"]]["model_id"])
        if pair[0] == pair[1]:
            raise DataError(f"review {review.get('review_id')}: compares {pair[0]} with itself; "
                            "give each answer file its own model_id")
        by_pair.setdefault(frozenset(pair), []).append(review)
    results = []
    for pair, group in by_pair.items():
        named = sorted(pair & set(references or ()))
        if references and len(named) != 1:
            raise DataError(f"reviews of {' vs '.join(sorted(pair))}: --reference must name exactly one of the two, "
                            f"got {named or references}")
        reference = named[0] if named else answers[group[0]["answer1_id"]]["model_id"]
        results.append(
            judging.aggregate(group, answers, {i.key: i.category for i in bench.items}, reference, **bootstrap)
        )
    for result in results:
        print("\n".join(judge_table(result)) + "\n")
    if output:
        write_json_atomic(Path(f"{output}.summary.json"), results)


def rouge(args) -> None:
    from .report import rouge_table
    from .rouge import rouge_l

    results = {}
    for path in args.input:
        name, pairs = _predictions(load_records(path))
        if name in results:
            raise DataError(f"{path}: model {name!r} is in two inputs; give each its own --model-id")
        results[name] = rouge_l(pairs)
    print("\n".join(rouge_table(results)))
    if args.output:
        write_json_atomic(Path(args.output), results)


def _predictions(records) -> tuple[str, list[dict]]:
    """(model, [{output, label}]) from FastChat answers with their `reference` (what `generate` writes), or from
    a benchmark whose records carry a prediction beside the label (the released GPT-4 Unnatural file)."""
    first = records.rows[0]
    if isinstance(first, dict) and "answer_id" in first:
        answers = {where: row for row, where in zip(records.rows, records.locations)}
        for where, row in answers.items():
            text_field(row, "text", where)
            if not isinstance(row.get("reference"), str):
                raise DataError(f"{where}: field 'reference' must be a string: rouge scores answers that "
                                "`eval generate` wrote for a benchmark with references or labels")  # fmt: skip
        return model_id(answers, records.source), [{"output": a["text"], "label": a["reference"]}
                                                   for a in answers.values()]
    bench = read_benchmark(records)
    for item in bench.items:
        if item.prediction is None or item.reference is None:
            raise DataError(f"{item.where}: field '{'output' if item.prediction is None else 'label'}' is missing: "
                            "rouge needs answers from `eval generate`, or records with an output beside their "
                            "label")  # fmt: skip
    return Path(records.source).stem, [{"output": item.prediction, "label": item.reference} for item in bench.items]


def report(args) -> None:
    from . import report as figures
    from .report import judge_table, rouge_table, write_report

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    if args.judge:
        results = [result for path in args.judge for result in json.loads(Path(path).read_text())]
        for result in results:
            sections.append((f"{result['models'][0]} vs {result['models'][1]} (judged)", judge_table(result)))
        figures.plot_totals(results, out / "judge_totals.png")
        figures.plot_length_bias(results, out / "length_bias.png")
        sections.append(("Figure: total scores", ["![](judge_totals.png)", "", "![](length_bias.png)"]))
    if args.mt_bench:
        from .report import mt_bench_table, mt_model_table, mt_pair_table

        results = [result for path in args.mt_bench for result in json.loads(Path(path).read_text())]
        singles = [r for r in results if r["kind"] == "single"]
        if singles:
            figures.plot_mt_bench(singles, out / "mt_bench.png")
            table = mt_bench_table(singles) + ["", "![](mt_bench.png)"]
            sections.append(("MT-bench: single-answer grading (1-10)", table))
        for result in (r for r in results if r["kind"] == "pairwise"):
            model_1, model_2 = result["models"]
            sections.append((f"MT-bench: {model_1} vs {model_2} (pairwise)", mt_pair_table(result)))
        if totals := [r for r in results if r["kind"] == "pairwise-model"]:
            sections.append(("MT-bench: each model against all the others (pairwise)", mt_model_table(totals)))
    if args.rl:
        curves = {Path(path).parent.name: json.loads(Path(path).read_text()) for path in args.rl}
        empty = [path for path, curve in zip(args.rl, curves.values()) if not curve]
        if empty:
            raise DataError(f"{empty[0]}: no logged step (the RL run logged no reward)")
        figures.plot_rl_curves(curves, out / "rl_reward.png")
        sections.append(("RL: the reward model's score of the policy's completions",
                         figures.rl_table(curves) + ["", "![](rl_reward.png)"]))  # fmt: skip
    if args.rouge:
        results = {name: result for path in args.rouge for name, result in json.loads(Path(path).read_text()).items()}
        sections.append(("ROUGE-L by reference length (count)", rouge_table(results)))
        figures.plot_rouge(results, out / "rouge_buckets.png")
        sections.append(("Figure: ROUGE-L by reference length", ["![](rouge_buckets.png)"]))
    for path in args.human:
        from .human.results import human_table, plot_pies

        result = json.loads(Path(path).read_text())
        name = f"human_eval_{len(sections)}.png"
        plot_pies(result, out / name)
        sections.append((f"{result['models'][0]} vs {result['models'][1]} (human, HHH)",
                         human_table(result) + ["", f"![]({name})"]))
    if args.datasets:
        outputs = {Path(p).stem: [r["output"] for r in alpaca_rows(load_records(p))] for p in args.datasets}
        figures.plot_output_lengths(outputs, out / "output_lengths.png")
        lines = ["![](output_lengths.png)", ""]
        parse = figures.spacy_parser()
        if parse is None:
            hint = f"Root verb / direct object pairs need spaCy and its English pipeline: {figures.SPACY_HINT}"
            logger.warning(hint)
            lines.append(hint)
        else:
            counts = {name: figures.verb_object_counts(texts, parse) for name, texts in outputs.items()}
            figures.plot_verb_objects(counts, out / "verb_objects.png")
            lines += ["Root verb / direct object of each output's first sentence, the top 25:", "",
                      *figures.verb_object_table(counts), "", "![](verb_objects.png)"]  # fmt: skip
        sections.append(("Data statistics (Figure 1)", lines))
    write_report(out / "report.md", sections)
    logger.info("wrote %s", out / "report.md")


def best_of_n(args) -> None:
    from .best_of_n import rerank

    rerank(args)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m eval", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="a model's answers to a benchmark")
    gen.add_argument("--model", help="local path or Hub id (LoRA adapters too); with --base-url, the endpoint's model")
    gen.add_argument("--questions", required=True, help="benchmark name or file")
    gen.add_argument("--output", required=True)
    gen.add_argument("--template", choices=["alpaca", "chat"], default="alpaca",
                     help="alpaca for models of this repo's recipes")
    gen.add_argument("--model-id", help="the name in the answer file (default: the model's last path part)")
    gen.add_argument("--batch-size", type=int, default=8)
    gen.add_argument("--max-new-tokens", type=int, help="default 512; MT-bench: FastChat's 1024")
    gen.add_argument("--temperature", type=float,
                     help="0 = greedy (the default); MT-bench: FastChat's temperature per category unless given")
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--limit", type=int, help="the first N prompts")
    gen.add_argument("--sample", type=int, help="a random N prompts (e.g. 9000 of unnatural_core, as the paper)")
    gen.add_argument("--seed", type=int, default=0, help="for --sample")
    gen.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                     help="weights in bf16 or fp32; auto: bf16 where the GPU or CPU computes it natively")
    gen.add_argument("--predictions", action="store_true",
                     help="no model: write the answers the benchmark carries (the `output` beside each label), "
                     "as --model-id")
    add_teacher_options(gen, model=False)  # with --base-url: an endpoint instead of a local model

    jud = commands.add_parser("judge", help="pairwise reviews of two answer files by a judge model")
    jud.add_argument("--questions", required=True)
    jud.add_argument("--answers", required=True, help="the model's answers (FastChat schema)")
    jud.add_argument("--reference", required=True, help="the reference model's answers (e.g. GPT-4's or ChatGPT's)")
    jud.add_argument("--reviewers", default=FASTCHAT_REVIEWERS[0], help="reviewer.jsonl (name or file)")
    jud.add_argument("--review-prompts", default=FASTCHAT_REVIEWERS[1], help="prompt.jsonl (name or file)")
    jud.add_argument("--limit", type=int, help="the first N questions (as generate --limit)")
    jud.add_argument("--single-order", action="store_true",
                     help="FastChat's protocol: the reference as Assistant 1 only")
    jud.add_argument("--max-tokens", type=int, help="cap the reviews' length (default: the reviewer's, 1024)")
    jud.add_argument("--output", required=True, help="reviews (FastChat schema, .jsonl)")
    add_teacher_options(jud, model_default="gpt-4", model_help="the judge (default gpt-4)")

    grd = commands.add_parser("grade", help="MT-bench: single-answer grading (1-10 a turn) or pairwise judgments")
    grd.add_argument("--questions", required=True, help="mt_bench, or a file in FastChat's llm_judge question schema")
    grd.add_argument("--answers", nargs="+", required=True,
                     help="answers of `eval generate` (llm_judge schema), a model each")
    grd.add_argument("--mode", choices=MODES, default="single",
                     help="single (default): a score per answer and turn; pairwise-baseline: each --answers against "
                     "--baseline; pairwise-all: every pair of --answers; pairwise games are judged in both orders")
    grd.add_argument("--baseline", help="with pairwise-baseline: the baseline model's answers")
    grd.add_argument("--judge-prompts", default="mt_bench_judge_prompts",
                     help="name or file, in FastChat's judge_prompts.jsonl schema (default: FastChat's)")
    grd.add_argument("--reference-answers", metavar="NAME_OR_FILE",
                     help="reference answers for math, reasoning and coding (llm_judge answer schema; default for "
                     "mt_bench: GPT-4's, mt_bench_reference_gpt4; otherwise the questions' own `reference`)")
    grd.add_argument("--limit", type=int, help="the first N questions")
    grd.add_argument("--max-tokens", type=int, help="the judgments' length limit (default FastChat's 2048)")
    grd.add_argument("--bootstrap", type=int, default=1000, help="resamples of the questions for the 95%% intervals")
    grd.add_argument("--seed", type=int, default=0, help="of the bootstrap")
    grd.add_argument("--output", required=True, help="judgments (FastChat's llm_judge schema, .jsonl)")
    add_teacher_options(grd, model_default="gpt-4", model_help="the judge (default gpt-4)")

    tot = commands.add_parser("grade-totals", help="MT-bench totals from judgment files (ours or FastChat's)")
    tot.add_argument("--questions", required=True)
    tot.add_argument("--judgments", nargs="+", required=True,
                     help="single or pairwise judgment files (llm_judge schema)")
    tot.add_argument("--bootstrap", type=int, default=1000, help="resamples of the questions for the 95%% intervals")
    tot.add_argument("--seed", type=int, default=0, help="of the bootstrap")
    tot.add_argument("--output", help="also write OUTPUT.summary.json")

    agg = commands.add_parser("aggregate", help="totals from existing review files (ours or FastChat's)")
    agg.add_argument("--questions", required=True)
    agg.add_argument("--answers", nargs="+", required=True, help="the answer files the reviews refer to")
    agg.add_argument("--reviews", nargs="+", required=True)
    agg.add_argument("--reference", nargs="+", metavar="MODEL_ID",
                     help="the reference model of each pair (ratios are model / reference); "
                     "default: each pair's Assistant 1")
    agg.add_argument("--bootstrap", type=int, default=1000, help="resamples of the questions for the 95%% intervals")
    agg.add_argument("--seed", type=int, default=0, help="of the bootstrap")
    agg.add_argument("--output", help="also write OUTPUT.summary.json")

    rou = commands.add_parser("rouge", help="ROUGE-L by reference length of predictions with labels")
    rou.add_argument("--input", nargs="+", required=True,
                     help="answers from generate (with their reference), or records with an output beside their label")
    rou.add_argument("--output", help="results as JSON")

    rep = commands.add_parser("report", help="Markdown report and figures from judge, rouge and dataset files")
    rep.add_argument("--judge", nargs="*", default=[], help="OUTPUT.summary.json files of judge/aggregate")
    rep.add_argument("--mt-bench", nargs="*", default=[], help="OUTPUT.summary.json files of grade/grade-totals")
    rep.add_argument("--rl", nargs="*", default=[], help="reward_curve.json files of recipes/rl.py runs")
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


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status for requests that failed, exits with 1 on an error."""
    command_line = parser()
    args = command_line.parse_args(argv)
    if args.command == "generate" and not args.base_url and any(getattr(args, name) for name in TEACHER_ONLY):
        command_line.error("--batch, --rpm, --tpm, --dry-run and --cancel-batches need --base-url (an endpoint)")
    if args.command in ("generate", "judge", "grade"):
        try:
            teacher_config(args)
        except ValueError as error:
            command_line.error(str(error))
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from gpt4llm.teacher import TeacherError

    command = {"generate": generate, "judge": judge, "grade": grade, "grade-totals": grade_totals,
               "aggregate": aggregate, "rouge": rouge, "report": report, "best-of-n": best_of_n}  # fmt: skip
    try:
        return command[args.command](args) or 0
    except (DataError, TeacherError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    sys.exit(main())
