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
import csv
import ipaddress
import json
import sys
from pathlib import Path

from gpt4llm.data import DataError
from gpt4llm.files import write_json_atomic

from .results import human_table, judge_agreement, plot_pies, summarize
from .store import Store, open_study
from .study import CRITERIA, derandomised


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(args) -> None:
    if not is_loopback(args.host) and not args.token:
        raise DataError(f"--host {args.host} is reachable from other machines: give an access --token too")
    store, meta, items = open_study(args.study, args.questions, args.answers_a, args.answers_b, seed=args.seed)

    import uvicorn

    from .app import create_app

    host = f"[{args.host}]" if ":" in args.host else args.host  # an IPv6 address in a URL
    summary = f"{meta['model_a']} (A) vs {meta['model_b']} (B), {len(items)} items, {len(store.judgments())} judged"
    print(f"study {meta['study_id']}: {summary}")
    print(f"annotators open http://{host}:{args.port}/" + (f"?token={args.token}" if args.token else ""), flush=True)
    uvicorn.run(create_app(store, meta, items, args.token), host=args.host, port=args.port, log_level="warning")


def export(args) -> None:
    store = Store(Path(args.study))
    meta = store.meta()
    model = {"A": meta["model_a"], "B": meta["model_b"], "tie": "tie"}
    judgments, rows = store.judgments(), []
    for stored, plain in zip(judgments, derandomised(judgments)):
        row = {"study_id": meta["study_id"], "annotator": stored["annotator"], "item_id": stored["item_id"],
               "response_1": meta["model_b" if stored["swapped"] else "model_a"]}
        for criterion in CRITERIA:
            row |= {criterion: model[plain[criterion]], f"{criterion}_comment": stored[f"{criterion}_comment"]}
        rows.append(row | {"submitted_at": stored["submitted_at"]})
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as file:
        if output.suffix == ".csv":
            writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else ["study_id"])
            writer.writeheader()
            writer.writerows(rows)
        else:
            file.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    print(f"wrote {len(rows)} judgments to {output}")


def results(args) -> None:
    store = Store(Path(args.study))
    meta = store.meta()
    judgments = derandomised(store.judgments())
    result = summarize(judgments, meta["model_a"], meta["model_b"])
    if args.judge:
        pair = {meta["model_a"], meta["model_b"]}
        summaries = [s for s in json.loads(Path(args.judge).read_text()) if set(s["models"]) == pair]
        if not summaries:
            raise DataError(f"{args.judge}: no judged comparison of {meta['model_a']} with {meta['model_b']}")
        result["judge_agreement"] = judge_agreement(
            judgments, summaries[0], meta["model_a"], meta["model_b"], args.criterion
        )
    out = Path(args.output_dir or args.study)
    write_json_atomic(out / "human_eval.json", result)
    plot_pies(result, out / "human_eval.png")
    print("\n".join(human_table(result)))
    print(f"\nwrote {out / 'human_eval.json'} and {out / 'human_eval.png'}")


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
        {"serve": serve, "export": export, "results": results}[args.command](args)
    except DataError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
