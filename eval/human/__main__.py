"""The paper's human evaluation (its Figure 3): annotators compare two models' answers, blind and in a random
order, by helpfulness, honesty and harmlessness, in a local web app.

    python -m eval.human serve   --questions user_oriented252 --answers-a answers/llama-gpt4.jsonl \\
                                 --answers-b answers/alpaca.jsonl --study studies/llama-gpt4_vs_alpaca \\
                                 [--host 127.0.0.1] [--port 8010] [--token TOKEN] [--seed N]
    python -m eval.human export  --study studies/llama-gpt4_vs_alpaca --output judgments.csv   (or .jsonl)
    python -m eval.human results --study studies/llama-gpt4_vs_alpaca [--output-dir D] \\
                                 [--judge reviews.jsonl.summary.json]

Questions are FastChat questions or User-Oriented records (a benchmark name or a file); answers are FastChat
answer files. The study directory holds study.sqlite3: its seed, the answer files' sha256 and every judgment.
Serving it again resumes it; serving it with other answer files is an error. Judgments cannot be changed once
submitted. `export` writes each judgment with the winner per criterion as a model id (or "tie"); `results`
prints win/tie/loss of model A per criterion with Fleiss' kappa, and writes human_eval.json and
human_eval.png (the pies) to the output directory (default: the study directory); with `--judge`, the summary
of an `eval judge` run on the same two answer files, also the judge's agreement with the annotators.
"""

import argparse
import sys
from pathlib import Path

from gpt4llm.data import DataError

from .study import CRITERIA


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m eval.human", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = root.add_subparsers(dest="command", required=True)

    srv = commands.add_parser("serve", help="the annotation web app for a new or existing study")
    srv.add_argument("--questions", required=True, help="benchmark name (e.g. user_oriented252) or file")
    srv.add_argument("--answers-a", required=True, help="model A's answers (FastChat schema)")
    srv.add_argument("--answers-b", required=True, help="model B's answers (FastChat schema)")
    srv.add_argument("--study", required=True, help="the study directory (created if new, resumed if not)")
    srv.add_argument("--host", default="127.0.0.1", help="anything but a loopback address needs --token")
    srv.add_argument("--port", type=int, default=8010)
    srv.add_argument("--token", help="access token every request must carry (?token=, then a cookie)")
    srv.add_argument("--seed", type=int, help="seed of the display orders of a new study (default: random, stored)")

    exp = commands.add_parser("export", help="the judgments with de-randomised winners")
    exp.add_argument("--study", required=True)
    exp.add_argument("--output", required=True, help=".jsonl or .csv")

    res = commands.add_parser("results", help="win/tie/loss per criterion, Fleiss' kappa, and the pies")
    res.add_argument("--study", required=True)
    res.add_argument("--output-dir", help="where human_eval.json and human_eval.png go (default: the study)")
    res.add_argument("--judge", help="OUTPUT.summary.json of `eval judge`/`aggregate` on the same two answer files: "
                     "judge-human agreement")
    res.add_argument("--criterion", choices=CRITERIA, default="helpfulness",
                     help="the human criterion the judge is compared with")
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "export" and Path(args.output).suffix not in (".jsonl", ".csv"):
        sys.exit(f"error: --output {args.output}: must end in .jsonl or .csv")
    try:
        if args.command == "serve":
            from .app import serve  # fastapi, uvicorn: not for the other commands

            serve(args.questions, args.answers_a, args.answers_b, args.study, host=args.host, port=args.port,
                  token=args.token, seed=args.seed)
        elif args.command == "export":
            from .store import export

            export(args.study, args.output)
        else:
            from .results import results

            results(args.study, output_dir=args.output_dir, judge=args.judge, criterion=args.criterion)
    except DataError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
