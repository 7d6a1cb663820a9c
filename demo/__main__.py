"""make demo: the whole paper on the embedded default, on a CPU, in one command.

    python -m demo [--limit 48] [--questions-limit 10] [--n 3] [--output-dir outputs/demo]

seed instructions -> teacher answers -> SFT -> teacher-rated comparisons -> reward model -> RL (GRPO from the
SFT model, rewarded by the reward model) -> answers of the tuned model -> best-of-N reranking -> judged (both
orders) and ROUGE-scored evaluation -> MT-bench at demo size (two-turn answers of the SFT and RL models graded
1-10 per turn) -> AlpacaEval 2's weighted annotator (win rates against the reference) -> report.md + figures.

The teacher and judge default to the embedded one (SmolLM2-135M on llama.cpp), the student to the embedded
SmolLM2 with LoRA. To scale up, change recipes and endpoints, not code: --teacher-model gpt-4o --base-url
https://api.openai.com/v1, --sft-recipe recipes/configs/sft/llama-7b_full_en.yaml with --accelerate-config
accelerate_configs/fsdp_8xa100.yaml, --questions vicuna80 --reference vicuna80_answers_chatgpt, --mt-bench mt_bench
(graded with FastChat's judge prompts when the judge is an endpoint). Every step resumes where it stopped. A step
whose rows partly failed (see its OUTPUT.failures.jsonl) goes on with the rest; a step that fails stops the demo
with its own message.
"""

import argparse
import logging
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from data_gen.runner import run_task
from data_gen.tasks import SCORE_FIRST_GRAMMAR, AnswerTask, RateTask
from data_gen.teacher_server import EmbeddedTeacher
from eval.alpaca_eval import alpaca_eval
from eval.best_of_n import rerank
from eval.generate import generate
from eval.judge import PAIR_FIRST_GRAMMAR, judge
from eval.mt_bench import RATING_FIRST_GRAMMAR
from eval.report import report
from eval.rouge import rouge
from gpt4llm.data import DataError
from gpt4llm.teacher.client import TeacherError
from gpt4llm.teacher.options import TeacherConfig
from gpt4llm.training import REWARD_CURVE

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("demo")


class StageFailed(Exception):
    """A recipe that stopped with an error; its own message is in the output above."""


def whole_paper(output_dir: Path, *, seeds: str, limit: int, max_tokens: int, teacher_model: str | None,
                base_url: str | None, sft_recipe: str, reward_recipe: str, rl_recipe: str, accelerate_config: str,
                questions: str, reference: str | None, labelled: str, questions_limit: int, n: int, new_tokens: int,
                mt_bench: str, mt_bench_limit: int) -> Path:
    """Every stage of the paper in order, each resuming where it stopped; returns the report."""
    out = Path(output_dir)
    data, models, answers, reviews = (out / d for d in ("data", "models", "answers", "reviews"))
    with ExitStack() as stack:
        if base_url:
            teacher = TeacherConfig(teacher_model, base_url=base_url)
        else:
            embedded = stack.enter_context(EmbeddedTeacher())
            teacher = TeacherConfig(embedded.model, base_url=embedded.base_url, concurrency=2)
        small_judge = not base_url  # a 135M judge needs its output format enforced by a grammar
        kept_cut = replace(teacher, keep_truncated=True)

        step("1. teacher answers to the seed instructions")
        teacher_answers = run_task(AnswerTask(), seeds, data / "answers.json", teacher, limit=limit,
                                   max_tokens=max_tokens).path
        # cut on purpose: the weak responses of the comparisons
        short_answers = run_task(AnswerTask(), seeds, data / "answers_short.json", kept_cut, limit=limit,
                                 max_tokens=32).path

        step("2. SFT on the teacher's answers")
        sft = recipe("sft", sft_recipe, accelerate_config, "--dataset_name", teacher_answers,
                     "--output_dir", models / "sft", "--merge_adapters", "true")
        sft_model = sft / "merged"

        step("3. comparisons rated by the teacher")
        rating = {"extra_body": {"grammar": SCORE_FIRST_GRAMMAR}, "max_tokens": 32} if small_judge else {}
        responses = {"teacher": str(teacher_answers), "teacher-short32": str(short_answers)}
        comparisons = run_task(RateTask(responses=responses), seeds, data / "comparisons.json", teacher,
                               limit=limit, **rating).path

        step("4. reward model")
        reward = recipe("reward", reward_recipe, accelerate_config, "--dataset_name", comparisons,
                        "--output_dir", models / "reward", "--eval_fraction", "0.2")

        step("4b. RL: GRPO from the SFT model, rewarded by the reward model, with a KL penalty against SFT")
        rl = recipe("rl", rl_recipe, accelerate_config, "--model_name_or_path", sft_model,
                    "--reward_model_path", reward, "--dataset_name", teacher_answers, "--output_dir", models / "rl",
                    "--merge_adapters", "true")
        policies = {"sft": sft_model, "rl": rl / "merged"}  # the tuned models MT-bench answers (step 8)

        step("5. answers of the tuned model, of the reference, and best-of-N")
        asked = {"limit": questions_limit, "max_new_tokens": new_tokens}
        sft_answers = generate(questions, answers / "sft.jsonl", str(sft_model), model_id="sft", **asked).path
        if reference is None:  # the teacher's own, cut as the local answers are
            reference = str(generate(questions, answers / "teacher.jsonl", kept_cut, template="chat",
                                     model_id="teacher", **asked).path)
        ranked = rerank(str(sft_model), str(reward), questions, answers / "best_of_n", n=n, model_id="sft",
                        limit=questions_limit, max_new_tokens=new_tokens)

        step("6. judged, both answer orders")
        reviewing = ({"extra_body": {"grammar": PAIR_FIRST_GRAMMAR}, "max_tokens": 48,
                      "reviewers": str(ROOT / "eval/data/reviewers.jsonl"),
                      "review_prompts": str(ROOT / "eval/data/review_prompts.jsonl")} if small_judge else {})
        judged = []
        for name, path in [("sft", sft_answers), ("R1", ranked[0]), (f"R{n}", ranked[-1])]:
            written = judge(questions, [str(path)], reviews / f"{name}_vs_reference.jsonl", teacher,
                            reference=reference, **reviewing)
            judged.append(written.summary)

        step("7. ROUGE-L on labelled instructions")
        labelled_answers = [
            generate(labelled, answers / "sft_labelled.json", str(sft_model), model_id="sft",
                     max_new_tokens=new_tokens).path,
            generate(labelled, answers / "teacher_labelled.json", kept_cut, max_new_tokens=new_tokens).path,
        ]
        rouge_results = out / "rouge.json"
        rouge([str(path) for path in labelled_answers], rouge_results)

        step("8. MT-bench at demo size: two-turn answers, graded 1-10 per turn by the judge")
        mt = {"limit": mt_bench_limit or None, "max_new_tokens": new_tokens}
        mt_answers = [generate(mt_bench, answers / f"mt_bench_{name}.jsonl", str(policy), model_id=name, **mt).path
                      for name, policy in policies.items()]
        mt_answers.append(generate(mt_bench, answers / "mt_bench_teacher.jsonl", kept_cut, template="chat",
                                   model_id="teacher", **mt).path)
        grading = ({"extra_body": {"grammar": RATING_FIRST_GRAMMAR}, "max_tokens": 48,
                    "judge_prompts": str(ROOT / "eval/data/mt_judge_prompts.jsonl")} if small_judge else {})
        graded = judge(mt_bench, [str(path) for path in mt_answers], reviews / "mt_bench_single.jsonl", teacher,
                       limit=mt_bench_limit or None, **grading)

        step("9. AlpacaEval 2's weighted annotator at demo size: the tuned model and its best-of-N against the "
             "reference's answers")
        # the LC win rate's gamed table is AlpacaEval's own baseline's: none for the demo's baseline
        annotating = {"prompt": str(ROOT / "eval/data/alpaca_eval_prompt.txt")} if small_judge else {}
        alpaca = alpaca_eval([str(sft_answers), str(ranked[0])], out / "alpaca_eval" / "results.json", teacher,
                             questions=questions, baseline=reference, limit=questions_limit, gamed=None,
                             **annotating)

    step("10. report")
    return report(out / "report", judge=judged, rouge=[rouge_results], mt_bench=[graded.summary],
                  rl=[rl / REWARD_CURVE], datasets=[teacher_answers, short_answers], alpaca_eval=[alpaca.path])


def step(title: str) -> None:
    logger.info("=== %s", title)


def recipe(script: str, config: str, accelerate_config: str, *overrides) -> Path:
    """Train with recipes/SCRIPT.py under accelerate; returns its --output_dir."""
    command = [str(Path(sys.executable).parent / "accelerate"), "launch", "--config_file", accelerate_config,
               str(ROOT / "recipes" / f"{script}.py"), "--config", config, *map(str, overrides)]
    if subprocess.run(command, cwd=ROOT).returncode:
        raise StageFailed(f"recipes/{script}.py stopped with an error (its message is above): {' '.join(command)}")
    return Path(overrides[overrides.index("--output_dir") + 1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    args = parser.parse_args(argv)
    if args.base_url and not args.teacher_model:
        parser.error("--base-url needs --teacher-model, the endpoint's model")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        print(f"\n{whole_paper(**vars(args))}")
    except (DataError, TeacherError, StageFailed) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
