"""The paper's evaluation.

    python -m eval generate  --model outputs/llama-gpt4-7b --questions vicuna80 --output answers/llama-gpt4.jsonl
    python -m eval generate  --model gpt-4o --base-url https://api.openai.com/v1 --questions vicuna80 \
                             --output answers/gpt-4o.jsonl
    python -m eval judge     --questions vicuna80 --answers answers/llama-gpt4.jsonl --reference answers/gpt-4o.jsonl \
                             --model gpt-4o --output reviews/llama-gpt4_vs_gpt-4o.jsonl
    python -m eval aggregate --questions vicuna80 --answers A.jsonl B.jsonl --reviews reviews.jsonl
    python -m eval generate  --model outputs/llama-gpt4-7b --questions release:unnatural_gpt4 --sample 9000 \
                             --output llama-gpt4.jsonl
    python -m eval generate  --predictions --model-id gpt-4 --questions release:unnatural_gpt4 --sample 9000 \
                             --output gpt4.jsonl
    python -m eval rouge     --input llama-gpt4.jsonl gpt4.jsonl
    python -m eval best-of-n --policy outputs/llama-gpt4-7b --reward outputs/opt-1.3b-reward --questions vicuna80 \
                             --n 5 --output-dir bon/
    python -m eval generate  --model outputs/llama-gpt4-7b --questions mt_bench --output mt_bench/llama-gpt4.jsonl
    python -m eval judge     --questions mt_bench --answers mt_bench/llama-gpt4.jsonl --model gpt-4o \
                             --output mt_bench/gpt-4o_single.jsonl
    python -m eval judge     --questions mt_bench --answers mt_bench/llama-gpt4.jsonl --mode pairwise-baseline \
                             --baseline mt_bench/gpt-4o-mini.jsonl --model gpt-4o --output mt_bench/gpt-4o_pair.jsonl
    python -m eval aggregate --questions mt_bench --reviews mt_bench/gpt-4o_single.jsonl
    python -m eval calibrate --model gpt-4o --sample 200 --output calibration/gpt-4o.json   # vs GPT-4's stored reviews
    python -m eval figure4   --answers answers/llama-gpt4.jsonl --model gpt-4o --output-dir figure4/
    python -m eval generate  --model outputs/llama-gpt4-7b --questions alpaca_eval --output ae/llama-gpt4.jsonl
    python -m eval alpaca-eval --answers ae/llama-gpt4.jsonl --model gpt-4.1 --output ae/results.json
    python -m eval alpaca-eval --annotations alpaca_eval_annotations_alpaca-7b --output ae/alpaca-7b.json  # replay
    python -m eval publish   you/llama-gpt4-7b --model llama-gpt4 --alpaca-eval ae/results.json \
                             --files-repo you/llama-gpt4-7b-evaluation --files ae/results.json.annotations

Benchmarks are named (vicuna80, user_oriented252, ...: downloaded once and verified, see gpt4llm/sources.py) or
given as local files. `judge` and `aggregate` read the questions' shape: single-turn questions (Vicuna-80) are
reviewed pairwise with FastChat's reviewers; multi-turn ones (MT-bench, or any file in FastChat's llm_judge
question schema) are answered turn by turn and graded with FastChat's llm_judge protocol (`grade` and
`grade-totals` are the older names of these two). Generation and judging log every finished request and resume
where they stopped; `judge` and endpoint `generate` take the teacher options of data_gen (limits, --batch,
--dry-run, ...) and write the requests that failed to OUTPUT.failures.jsonl.

Exit status: 0 done; 1 an error stopped the run; 2 bad command line; 3 done, but requests failed (listed in
OUTPUT.failures.jsonl; the same command again retries them).
"""

import argparse
import logging
import sys

from gpt4llm.data import DataError
from gpt4llm.teacher.options import TEACHER_OPTIONS, add_teacher_options, teacher_config

from .mt_bench import MODES

logger = logging.getLogger("eval")
RENAMED = {"grade": "judge", "grade-totals": "aggregate"}  # older verbs, still accepted


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
    gen.add_argument("--subset", type=_subsets, help="only these subsets, comma-separated (alpaca_eval's datasets: "
                     "selfinstruct,vicuna are the paper's User-Oriented-252 and Vicuna-80; Vicuna-80's categories)")
    gen.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                     help="weights in bf16 or fp32; auto: bf16 where the GPU or CPU computes it natively")
    gen.add_argument("--predictions", action="store_true",
                     help="no model: write the answers the benchmark carries (the `output` beside each label), "
                     "as --model-id")
    add_teacher_options(gen, model=False)  # with --base-url: an endpoint instead of a local model

    for verb in ("judge", "grade"):
        jud = commands.add_parser(verb, help="a judge model's verdicts on answer files: pairwise reviews (Vicuna-80) "
                                  "or MT-bench grading, by the questions' shape" if verb == "judge" else
                                  "the older name of judge (MT-bench)")
        jud.add_argument("--questions", required=True,
                         help="benchmark name or file: single-turn (vicuna80) or multi-turn (mt_bench)")
        jud.add_argument("--answers", nargs="+", required=True,
                         help="answers of `eval generate`: single-turn questions, one model's; MT-bench, a model each")
        jud.add_argument("--reference", "--baseline", dest="reference",
                         help="the answers the model is compared with: single-turn, the reference model's (e.g. "
                         "GPT-4's or ChatGPT's); MT-bench, the baseline of --mode pairwise-baseline")
        jud.add_argument("--limit", type=int, help="the first N questions (as generate --limit)")
        jud.add_argument("--max-tokens", type=int,
                         help="the judgments' length limit (default: the reviewer's 1024; MT-bench FastChat's 2048)")
        jud.add_argument("--bootstrap", type=int, default=1000,
                         help="resamples of the questions for the 95%% intervals")
        jud.add_argument("--seed", type=int, default=0, help="of the bootstrap")
        jud.add_argument("--output", required=True, help="reviews or judgments (FastChat's schemas, .jsonl)")
        single = jud.add_argument_group("single-turn questions: FastChat's reviewers")
        single.add_argument("--reviewers", help="reviewer.jsonl (name or file; default FastChat's)")
        single.add_argument("--review-prompts", help="prompt.jsonl (name or file; default FastChat's)")
        single.add_argument("--single-order", action="store_true",
                            help="FastChat's protocol: the reference as Assistant 1 only")
        multi = jud.add_argument_group("multi-turn questions: FastChat's llm_judge")
        multi.add_argument("--mode", choices=MODES,
                           help="single (default): a score per answer and turn; pairwise-baseline: each --answers "
                           "against --baseline; pairwise-all: every pair of --answers; pairwise games are judged "
                           "in both orders")
        multi.add_argument("--judge-prompts",
                           help="name or file, in FastChat's judge_prompts.jsonl schema (default: FastChat's)")
        multi.add_argument("--reference-answers", metavar="NAME_OR_FILE",
                           help="reference answers for math, reasoning and coding (llm_judge answer schema; default "
                           "for mt_bench: GPT-4's, mt_bench_reference_gpt4; otherwise the questions' own `reference`)")
        # no default: the paper's judge (gpt-4) is shut down, and a judge is a choice to make and calibrate
        add_teacher_options(jud, model_help="the judge model (required)")

    for verb in ("aggregate", "grade-totals"):
        agg = commands.add_parser(verb, help="totals from existing review or judgment files (ours or FastChat's)"
                                  if verb == "aggregate" else "the older name of aggregate (MT-bench)")
        agg.add_argument("--questions", required=True)
        agg.add_argument("--reviews", "--judgments", dest="reviews", nargs="+", required=True,
                         help="review files (single-turn) or judgment files (MT-bench, single or pairwise)")
        agg.add_argument("--answers", nargs="+", default=[],
                         help="single-turn: the answer files the reviews refer to")
        agg.add_argument("--reference", nargs="+", metavar="MODEL_ID",
                         help="single-turn: the reference model of each pair (ratios are model / reference); "
                         "default: each pair's Assistant 1")
        agg.add_argument("--bootstrap", type=int, default=1000,
                         help="resamples of the questions for the 95%% intervals")
        agg.add_argument("--seed", type=int, default=0, help="of the bootstrap")
        agg.add_argument("--output", help="also write OUTPUT.summary.json")

    cal = commands.add_parser("calibrate", help="how a candidate judge agrees with stored verdicts (GPT-4's, or "
                              "human judgments), before money is spent on it")
    cal.add_argument("--questions", default="vicuna80",
                     help="the questions the stored judgments are of (default vicuna80; mt_bench for MT-bench "
                     "judgment files and human judgments; alpaca_eval for AlpacaEval annotations)")
    cal.add_argument("--reviews", "--judgments", dest="reviews", nargs="+",
                     help="stored judgments: Vicuna-80 reviews (default: FastChat's 13 GPT-4 review sets, 1,040 "
                     "pairs), MT-bench judgment files (mt_bench_gpt4_single, mt_bench_gpt4_pair), MT-bench human "
                     "judgments (default for mt_bench: mt_bench_human_judgments and GPT-4's verdicts on the same "
                     "pairs, mt_bench_human_judgments_gpt4) or AlpacaEval annotations (e.g. "
                     "alpaca_eval_annotations_vicuna-7b)")
    cal.add_argument("--answers", nargs="+",
                     help="Vicuna-80: the answer files the reviews refer to (default: FastChat's 7)")
    cal.add_argument("--reviewers", help="Vicuna-80: reviewer.jsonl (default FastChat's)")
    cal.add_argument("--review-prompts", help="Vicuna-80: prompt.jsonl (default FastChat's)")
    cal.add_argument("--judge-prompts", help="MT-bench: judge_prompts.jsonl (default FastChat's); AlpacaEval: the "
                     "annotator prompt (default AlpacaEval 2's)")
    cal.add_argument("--sample", type=int, help="N pairs drawn, seeded, stratified by review set and category")
    cal.add_argument("--repeats", type=int, default=1,
                     help="times each pair is judged in each order (the judge's own run-to-run spread)")
    cal.add_argument("--seed", type=int, default=0, help="of the sample and the bootstrap")
    cal.add_argument("--bootstrap", type=int, default=1000, help="resamples of the pairs for the 95%% intervals")
    cal.add_argument("--max-tokens", type=int, help="the judgments' length limit (default: the stored protocol's)")
    cal.add_argument("--output", required=True,
                     help="OUTPUT (JSON), OUTPUT's .md and .png beside it, and the new judgments in "
                     "OUTPUT.judgments.jsonl")
    add_teacher_options(cal, model_help="the candidate judge (required)")

    fig = commands.add_parser("figure4", help="the paper's Figure 4 under any judge: your models and FastChat's "
                              "stored baselines against the same references, beside the published GPT-4 ratios")
    fig.add_argument("--answers", nargs="+", required=True, help="your models' Vicuna-80 answers (eval generate)")
    fig.add_argument("--references", nargs="+", metavar="NAME=FILE", default=["ChatGPT=vicuna80_answers_chatgpt"],
                     help="the answers every model is compared with, each named as the paper names it (default "
                     "ChatGPT=vicuna80_answers_chatgpt; GPT-4's answers were never published: give a file as "
                     "GPT-4=FILE if you have them)")
    fig.add_argument("--no-baselines", action="store_true",
                     help="only your models (default: also LLaMA-13B, Alpaca-13B, Vicuna-13B, Bard and ChatGPT, "
                     "FastChat's stored answers)")
    fig.add_argument("--reviewers", help="reviewer.jsonl (default FastChat's)")
    fig.add_argument("--review-prompts", help="prompt.jsonl (default FastChat's)")
    fig.add_argument("--limit", type=int, help="the first N questions")
    fig.add_argument("--single-order", action="store_true", help="the reference as Assistant 1 only")
    fig.add_argument("--max-tokens", type=int, help="the reviews' length limit (default: the reviewer's 1024)")
    fig.add_argument("--bootstrap", type=int, default=1000, help="resamples of the questions for the 95%% intervals")
    fig.add_argument("--seed", type=int, default=0, help="of the bootstrap")
    fig.add_argument("--output-dir", required=True)
    add_teacher_options(fig, model_help="the judge of every comparison (required)")

    ae = commands.add_parser("alpaca-eval", help="AlpacaEval 2 (win rates and length-controlled win rates against "
                             "GPT-4 Turbo's outputs): answers judged with its weighted annotator, or published "
                             "annotations replayed without a judge")
    given = ae.add_mutually_exclusive_group(required=True)
    given.add_argument("--answers", nargs="+",
                       help="answer files of `eval generate --questions alpaca_eval` (one model each), to judge")
    given.add_argument("--annotations", nargs="+", metavar="NAME_OR_FILE",
                       help="annotation files in AlpacaEval's schema (ours, or published ones: e.g. "
                       "alpaca_eval_annotations_alpaca-7b), whose metrics are computed without a judge")
    ae.add_argument("--questions", default="alpaca_eval",
                    help="the evaluation set with the baseline's outputs (default alpaca_eval: AlpacaEval 2's 805)")
    ae.add_argument("--baseline", metavar="ANSWERS",
                    help="judge against this model's answers (eval generate) instead of the set's own baseline; "
                    "--questions may then be any benchmark, and the LC win rate needs --gamed of this baseline")
    ae.add_argument("--subset", type=_subsets,
                    help="judge only these subsets, comma-separated (selfinstruct,vicuna: the paper's "
                    "User-Oriented-252 and Vicuna-80)")
    ae.add_argument("--limit", type=int, help="judge the first N instructions")
    ae.add_argument("--prompt", default="alpaca_eval_annotator_prompt",
                    help="the annotator prompt, ChatML with {instruction}, {output_1}, {output_2} (default "
                    "AlpacaEval 2's weighted annotator's)")
    ae.add_argument("--gamed", default="alpaca_eval_gamed", metavar="NAME_OR_FILE",
                    help="the length-controlled GLM's table (AlpacaEval's df_gamed.csv, from the tatsu-lab/"
                    "alpaca_eval dataset; default the registered, pinned copy; a local file works offline)")
    ae.add_argument("--no-length-control", action="store_true", help="no LC win rate (no gamed table needed)")
    ae.add_argument("--leaderboard", default="alpaca_eval_leaderboard", metavar="NAME_OR_FILE",
                    help="the published leaderboard kept beside the results (default AlpacaEval 2's)")
    ae.add_argument("--no-leaderboard", action="store_true", help="leave the published leaderboard out")
    ae.add_argument("--max-tokens", type=int,
                    help="the annotator's length limit (default AlpacaEval's 1: one label token, read from its "
                    "log-probabilities; raise it for reasoning models, whose label is then read from the answer)")
    ae.add_argument("--output", help="results (JSON; .md beside it); with --answers also the annotations, in "
                    "OUTPUT.annotations/ (required with --answers)")
    ae.add_argument("--model", help="the judge (required with --answers)")
    add_teacher_options(ae, model=False)

    rou = commands.add_parser("rouge", help="ROUGE-L by reference length of predictions with labels")
    rou.add_argument("--input", nargs="+", required=True,
                     help="answers from generate (with their reference), or records with an output beside their label")
    rou.add_argument("--output", help="results as JSON")

    rep = commands.add_parser("report", help="Markdown report and figures from judge, rouge and dataset files")
    rep.add_argument("--judge", nargs="*", default=[], help="OUTPUT.summary.json files of judge/aggregate")
    rep.add_argument("--mt-bench", nargs="*", default=[], help="OUTPUT.summary.json files of MT-bench judging")
    rep.add_argument("--rl", nargs="*", default=[], help="reward_curve.json files of recipes/rl.py runs")
    rep.add_argument("--rouge", nargs="*", default=[], help="JSON files of rouge --output")
    rep.add_argument("--datasets", nargs="*", default=[], help="Alpaca-schema datasets for the data statistics")
    rep.add_argument("--human", nargs="*", default=[], help="human_eval.json files of `python -m eval.human results`")
    rep.add_argument("--figure4", nargs="*", default=[], help="figure4.json files of `eval figure4`")
    rep.add_argument("--calibration", nargs="*", default=[], help="OUTPUT.json files of `eval calibrate`")
    rep.add_argument("--alpaca-eval", nargs="*", default=[], help="OUTPUT.json files of `eval alpaca-eval`")
    rep.add_argument("--output-dir", required=True)

    pub = commands.add_parser("publish", help="results into a Hub model's card (model-index), the files behind them "
                              "as a dataset")
    pub.add_argument("repo_id", help="the model repository on the Hub, e.g. you/llama-gpt4-7b")
    pub.add_argument("--model", help="the model as the result files name it (default: the only one they evaluate)")
    pub.add_argument("--judge", nargs="*", default=[], help="OUTPUT.summary.json files of judge/aggregate")
    pub.add_argument("--mt-bench", nargs="*", default=[], help="OUTPUT.summary.json files of MT-bench judging")
    pub.add_argument("--alpaca-eval", nargs="*", default=[], help="OUTPUT.json files of `eval alpaca-eval`")
    pub.add_argument("--rouge", nargs="*", default=[], help="JSON files of rouge --output")
    pub.add_argument("--files-repo", help="also upload the result files and --files to this dataset repository, "
                     "named as the results' source")
    pub.add_argument("--files", nargs="*", default=[],
                     help="with --files-repo: the reviews, judgments or annotations behind the results (files or "
                          "folders)")
    pub.add_argument("--private", action="store_true", help="with --files-repo: a private dataset, when created")

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


def run(args: argparse.Namespace, endpoint) -> int:
    """Call the command's stage with the parsed options; returns the exit status."""
    if args.command == "generate":
        from .generate import generate, write_predictions

        if args.predictions:
            if not args.model_id:
                raise DataError("--predictions needs --model-id: the name of the model whose answers the benchmark "
                                "carries (e.g. gpt-4)")
            return write_predictions(args.questions, args.output, args.model_id, limit=args.limit,
                                     sample=args.sample, seed=args.seed).exit_status
        if not args.model:
            raise DataError("generate needs --model (or --predictions to write the answers the benchmark carries)")
        written = generate(args.questions, args.output, endpoint or args.model, model_id=args.model_id,
                           template=args.template, limit=args.limit, sample=args.sample, seed=args.seed,
                           subsets=args.subset, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                           top_p=args.top_p,
                           batch_size=args.batch_size, precision=args.precision, extra_body=args.extra_body,
                           dry_run=args.dry_run)
    elif args.command == "judge":
        from .judge import judge

        written = judge(args.questions, args.answers, args.output, endpoint, reference=args.reference,
                        limit=args.limit, max_tokens=args.max_tokens, extra_body=args.extra_body,
                        bootstrap=args.bootstrap, seed=args.seed, dry_run=args.dry_run, reviewers=args.reviewers,
                        review_prompts=args.review_prompts, single_order=args.single_order, mode=args.mode,
                        judge_prompts=args.judge_prompts, reference_answers=args.reference_answers)
    elif args.command == "aggregate":
        from .judge import aggregate

        aggregate(args.questions, args.reviews, args.output, answers=args.answers, references=args.reference,
                  bootstrap=args.bootstrap, seed=args.seed)
        return 0
    elif args.command == "calibrate":
        from .calibrate import calibrate

        written = calibrate(args.output, endpoint, questions=args.questions, answers=args.answers,
                            reviews=args.reviews, reviewers=args.reviewers, review_prompts=args.review_prompts,
                            judge_prompts=args.judge_prompts, sample=args.sample, repeats=args.repeats,
                            seed=args.seed, bootstrap_resamples=args.bootstrap, max_tokens=args.max_tokens,
                            extra_body=args.extra_body, dry_run=args.dry_run)
    elif args.command == "figure4":
        from .figure4 import figure4

        references = dict(_named(spec) for spec in args.references)
        written = figure4(args.answers, args.output_dir, endpoint, references=references,
                          baselines={} if args.no_baselines else None, reviewers=args.reviewers,
                          review_prompts=args.review_prompts, limit=args.limit,
                          single_order=args.single_order, max_tokens=args.max_tokens, extra_body=args.extra_body,
                          bootstrap=args.bootstrap, seed=args.seed, dry_run=args.dry_run)
    elif args.command == "alpaca-eval":
        from .alpaca_eval import alpaca_eval, replay

        gamed = None if args.no_length_control else args.gamed
        if args.annotations:
            replay(args.annotations, args.output, questions=args.questions, gamed=gamed,
                   leaderboard=None if args.no_leaderboard else args.leaderboard)
            return 0
        written = alpaca_eval(args.answers, args.output, endpoint, questions=args.questions, baseline=args.baseline,
                              subsets=args.subset,
                              limit=args.limit, prompt=args.prompt, gamed=gamed,
                              leaderboard=None if args.no_leaderboard else args.leaderboard,
                              max_tokens=args.max_tokens, extra_body=args.extra_body, dry_run=args.dry_run)
    elif args.command == "rouge":
        from .rouge import rouge

        rouge(args.input, args.output)
        return 0
    elif args.command == "report":
        from .report import report

        report(args.output_dir, judge=args.judge, mt_bench=args.mt_bench, rl=args.rl, rouge=args.rouge,
               datasets=args.datasets, human=args.human, figure4=args.figure4, calibration=args.calibration,
               alpaca_eval=args.alpaca_eval)
        return 0
    elif args.command == "publish":
        from .publish import publish_results

        published = publish_results(args.repo_id, model=args.model, judge=args.judge, mt_bench=args.mt_bench,
                                    alpaca_eval=args.alpaca_eval, rouge=args.rouge, files_repo=args.files_repo,
                                    files=args.files, private=args.private)
        for result in published["results"]:
            print(f"{published['repo_id']}: {result['benchmark']}: {result['name']}: {result['value']}")
        return 0
    else:
        from .best_of_n import rerank

        rerank(args.policy, args.reward, args.questions, args.output_dir, n=args.n, template=args.template,
               model_id=args.model_id, temperature=args.temperature, top_p=args.top_p,
               max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, limit=args.limit)
        return 0
    return written.exit_status if written else 0


def _subsets(spec: str) -> list[str]:
    return [name.strip() for name in spec.split(",") if name.strip()]


def _named(spec: str) -> tuple[str, str]:
    name, sep, source = spec.partition("=")
    if not sep or not name or not source:
        raise DataError(f"--references {spec!r}: expected NAME=FILE, e.g. ChatGPT=vicuna80_answers_chatgpt")
    return name, source


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status for requests that failed, exits with 1 on an error."""
    command_line = parser()
    args = command_line.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if args.command in RENAMED:
        logger.warning("`%s` is now `%s` (it reads the questions' shape); the old name still works",
                       args.command, RENAMED[args.command])
        args.command = RENAMED[args.command]
    endpoint = None
    if args.command == "alpaca-eval" and args.answers and not (args.model and args.output):
        command_line.error("alpaca-eval --answers needs --model (the judge) and --output")
    if args.command in ("judge", "calibrate", "figure4") or (args.command == "generate" and args.base_url) or (
            args.command == "alpaca-eval" and args.answers):
        try:
            endpoint = teacher_config(**{name: getattr(args, name) for name in TEACHER_OPTIONS})
        except ValueError as error:
            command_line.error(str(error))
    elif args.command == "generate" and any(
        getattr(args, name) for name in ("batch", "requests_per_minute", "tokens_per_minute", "dry_run",
                                         "cancel_batches")
    ):
        command_line.error("--batch, --rpm, --tpm, --dry-run and --cancel-batches need --base-url (an endpoint)")
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from gpt4llm.teacher.client import TeacherError

    try:
        return run(args, endpoint)
    except (DataError, TeacherError) as error:
        sys.exit(f"error: {error}")

if __name__ == "__main__":
    sys.exit(main())
