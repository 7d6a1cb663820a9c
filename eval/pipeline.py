"""make demo: the whole paper on the embedded default, on a CPU, in one command.

    python -m eval.pipeline [--limit 48] [--questions-limit 10] [--n 3] [--output-dir outputs/demo]

seed instructions -> teacher answers -> SFT -> teacher-rated comparisons -> reward model -> RL (GRPO from the
SFT model, rewarded by the reward model) -> answers of the tuned model -> best-of-N reranking -> judged (both
orders) and ROUGE-scored evaluation -> MT-bench at demo size (two-turn answers of the SFT and RL models graded
1-10 per turn) -> report.md + figures.

The teacher and judge default to the embedded one (SmolLM2-135M on llama.cpp), the student to the embedded
SmolLM2 with LoRA. To scale up, change recipes and endpoints, not code: --teacher-model gpt-4 --base-url
https://api.openai.com/v1, --sft-recipe recipes/configs/sft/llama-7b_full_en.yaml with --accelerate-config
accelerate_configs/fsdp_8xa100.yaml, --questions vicuna80 --reference vicuna80_answers_chatgpt, --mt-bench mt_bench
(graded with FastChat's judge prompts when the judge is an endpoint). Every step
resumes where it stopped. A step whose rows partly failed (see its OUTPUT.failures.jsonl) goes on with the rest.
"""

import argparse
import json
import logging
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from data_gen import __main__ as data_gen
from data_gen.tasks import SCORE_FIRST_GRAMMAR
from data_gen.teacher_server import EmbeddedTeacher

from . import __main__ as evaluate
from .judge import PAIR_FIRST_GRAMMAR
from .mt_bench import RATING_FIRST_GRAMMAR

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("pipeline")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--output-dir", type=Path, default=ROOT / "outputs" / "demo")
    parser.add_argument("--seeds", default=str(ROOT / "data_gen/seeds/seed_instructions_en.jsonl"))
    parser.add_argument("--limit", type=int, default=48, help="seed instructions to answer, rate and train on")
    parser.add_argument("--max-tokens", type=int, default=256, help="teacher answer length")
    parser.add_argument("--teacher-model", help="default: the embedded teacher")
    parser.add_argument("--base-url", help="the teacher's endpoint (default: the embedded one, started here)")
    parser.add_argument("--sft-recipe", default=str(ROOT / "recipes/configs/sft/smollm2-135m_lora_cpu.yaml"))
    parser.add_argument("--reward-recipe", default=str(ROOT / "recipes/configs/reward/smollm2-135m_lora_cpu.yaml"))
    parser.add_argument("--rl-recipe", default=str(ROOT / "recipes/configs/rl/smollm2-135m_grpo_cpu.yaml"))
    parser.add_argument("--accelerate-config", default=str(ROOT / "accelerate_configs/cpu.yaml"))
    parser.add_argument("--questions", default=str(ROOT / "eval/data/demo_questions.jsonl"),
                        help="benchmark name or file")
    parser.add_argument("--reference", help="reference answers (name or file); default: the teacher's own")
    parser.add_argument("--labelled", default=str(ROOT / "eval/data/demo_unnatural.jsonl"), help="for ROUGE-L")
    parser.add_argument("--questions-limit", type=int, default=10)
    parser.add_argument("--n", type=int, default=3, help="samples per question for best-of-N")
    parser.add_argument("--new-tokens", type=int, default=128, help="answer length of the tuned model")
    parser.add_argument("--mt-bench", default=str(ROOT / "eval/data/demo_mt_bench.jsonl"),
                        help="two-turn questions (mt_bench, or a file in FastChat's llm_judge schema)")
    parser.add_argument("--mt-bench-limit", type=int, default=4, help="of its questions (0: all)")
    args = parser.parse_args()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    out = args.output_dir
    data, models, answers, reviews = (out / d for d in ("data", "models", "answers", "reviews"))

    with ExitStack() as stack:
        if args.base_url:
            base_url, teacher = args.base_url, args.teacher_model
        else:
            embedded = stack.enter_context(EmbeddedTeacher())
            base_url, teacher = embedded.base_url, embedded.model
        endpoint = ["--model", teacher, "--base-url", base_url, "--concurrency", "2" if not args.base_url else "32"]
        small_judge = not args.base_url  # a 135M judge needs its output format enforced by a grammar

        step("1. teacher answers to the seed instructions")
        limit = ["--limit", str(args.limit)]
        data_gen.main(["answer", "--input", args.seeds, "--output", str(data / "answers.json"),
                       "--max-tokens", str(args.max_tokens), *limit, *endpoint])  # fmt: skip
        # cut on purpose: the weak responses of the comparisons
        data_gen.main(["answer", "--input", args.seeds, "--output", str(data / "answers_short.json"),
                       "--max-tokens", "32", "--keep-truncated", *limit, *endpoint])  # fmt: skip

        step("2. SFT on the teacher's answers")
        sft = models / "sft"
        recipe("sft", args.sft_recipe, args.accelerate_config, "--dataset_name", data / "answers.json",
               "--output_dir", sft, "--merge_adapters", "true")  # fmt: skip

        step("3. comparisons rated by the teacher")
        grammar = (["--extra-body", json.dumps({"grammar": SCORE_FIRST_GRAMMAR}), "--max-tokens", "32"]
                   if small_judge else [])  # fmt: skip
        data_gen.main(["rate", "--input", args.seeds, "--output", str(data / "comparisons.json"),
                       *limit, *endpoint, *grammar, "--responses", f"teacher={data / 'answers.json'}",
                       "--responses", f"teacher-short32={data / 'answers_short.json'}"])  # fmt: skip

        step("4. reward model")
        rm = models / "reward"
        recipe("reward", args.reward_recipe, args.accelerate_config, "--dataset_name", data / "comparisons.json",
               "--output_dir", rm, "--eval_fraction", "0.2")  # fmt: skip
        policies = {"sft": sft / "merged"}  # the tuned models that MT-bench (step 8) answers and grades

        step("4b. RL: GRPO from the SFT model, rewarded by the reward model, with a KL penalty against SFT")
        rl = models / "rl"
        recipe("rl", args.rl_recipe, args.accelerate_config, "--model_name_or_path", sft / "merged",
               "--reward_model_path", rm, "--dataset_name", data / "answers.json", "--output_dir", rl,
               "--merge_adapters", "true")  # fmt: skip
        policies["rl"] = rl / "merged"  # graded beside SFT in step 8; its reward curve goes to the report

        step("5. answers of the tuned model, of the reference, and best-of-N")
        questions = ["--questions", args.questions, "--limit", str(args.questions_limit)]
        tokens = ["--max-new-tokens", str(args.new_tokens)]
        evaluate.main(["generate", "--model", str(sft / "merged"), "--model-id", "sft",
                       "--output", str(answers / "sft.jsonl"), *questions, *tokens])  # fmt: skip
        reference = args.reference
        if reference is None:
            reference = str(answers / "teacher.jsonl")
            evaluate.main(["generate", "--model", teacher, "--base-url", base_url, "--template", "chat",
                           "--model-id", "teacher", "--output", reference, "--keep-truncated",
                           *questions, *tokens])  # cut as the local answers are  # fmt: skip
        evaluate.main(["best-of-n", "--policy", str(sft / "merged"), "--model-id", "sft", "--reward", str(rm),
                       "--n", str(args.n), "--output-dir", str(answers / "best_of_n"),
                       *questions, *tokens])  # fmt: skip

        step("6. judged, both answer orders")
        judge_grammar = (["--extra-body", json.dumps({"grammar": PAIR_FIRST_GRAMMAR}), "--max-tokens", "48"]
                         if small_judge else [])  # fmt: skip
        local_reviewers = ["--reviewers", str(ROOT / "eval/data/reviewers.jsonl"),
                           "--review-prompts", str(ROOT / "eval/data/review_prompts.jsonl")]  # fmt: skip
        judged = []
        for name, path in [("sft", answers / "sft.jsonl"), ("R1", answers / "best_of_n/R1.jsonl"),
                           (f"R{args.n}", answers / f"best_of_n/R{args.n}.jsonl")]:
            output = reviews / f"{name}_vs_reference.jsonl"
            evaluate.main(["judge", "--questions", args.questions, "--answers", str(path), "--reference", reference,
                           "--model", teacher, "--base-url", base_url, "--output", str(output), *judge_grammar,
                           *(local_reviewers if small_judge else [])])  # fmt: skip
            judged.append(str(output) + ".summary.json")

        step("7. ROUGE-L on labelled instructions")
        labelled = ["--questions", args.labelled, *tokens]
        evaluate.main(["generate", "--model", str(sft / "merged"), "--model-id", "sft",
                       "--output", str(answers / "sft_labelled.json"), *labelled])  # fmt: skip
        evaluate.main(["generate", "--model", teacher, "--base-url", base_url, "--template", "alpaca",
                       "--keep-truncated", "--output", str(answers / "teacher_labelled.json"), *labelled])  # fmt: skip
        evaluate.main(["rouge", "--input", str(answers / "sft_labelled.json"), str(answers / "teacher_labelled.json"),
                       "--output", str(out / "rouge.json")])  # fmt: skip

        step("8. MT-bench at demo size: two-turn answers, graded 1-10 per turn by the judge")
        mt_limit = ["--limit", str(args.mt_bench_limit)] if args.mt_bench_limit else []
        mt_bench = ["--questions", args.mt_bench, *mt_limit]
        mt_answers = {name: answers / f"mt_bench_{name}.jsonl" for name in [*policies, "teacher"]}
        for name, policy in policies.items():
            evaluate.main(["generate", "--model", str(policy), "--model-id", name, "--output", str(mt_answers[name]),
                           *mt_bench, *tokens])  # fmt: skip
        evaluate.main(["generate", "--model", teacher, "--base-url", base_url, "--template", "chat", "--model-id",
                       "teacher", "--output", str(mt_answers["teacher"]), "--keep-truncated", *mt_bench,
                       *tokens])  # fmt: skip
        local_prompts = ["--judge-prompts", str(ROOT / "eval/data/mt_judge_prompts.jsonl")]
        grading = ["--extra-body", json.dumps({"grammar": RATING_FIRST_GRAMMAR}), "--max-tokens", "48",
                   *local_prompts] if small_judge else []  # fmt: skip
        grades = reviews / "mt_bench_single.jsonl"
        evaluate.main(["grade", *mt_bench, "--answers", *map(str, mt_answers.values()), "--model", teacher,
                       "--base-url", base_url, "--output", str(grades), *grading])  # fmt: skip

    step("9. report")
    evaluate.main(["report", "--judge", *judged, "--rouge", str(out / "rouge.json"),
                   "--mt-bench", f"{grades}.summary.json", "--rl", str(rl / "reward_curve.json"),
                   "--datasets", str(data / "answers.json"),
                   str(data / "answers_short.json"), "--output-dir", str(out / "report")])  # fmt: skip
    print(f"\n{out / 'report' / 'report.md'}")


def step(title: str) -> None:
    logger.info("=== %s", title)


def recipe(script: str, config: str, accelerate_config: str, *overrides) -> None:
    command = [str(Path(sys.executable).parent / "accelerate"), "launch", "--config_file", accelerate_config,
               str(ROOT / "recipes" / f"{script}.py"), "--config", config, *map(str, overrides)]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
