"""eval report: Figure 1 computed on the outputs (root verb / direct object of their first sentence, lengths that
count CJK characters), the spaCy hint, and every figure rendered to a PNG (looked at by people, not by the test).

The parses here come from a stand-in for spaCy written for the test: it reads "VERB [a|an|the] NOUN ..." and
records every text it is given, so a test can tell what was parsed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from eval import report as figures
from eval.judge import review_totals
from eval.rouge import rouge_l
from eval.words import length_in_tokens

PNG = b"\x89PNG"


def parse(*tokens):
    return [{"lemma": lemma, "pos": pos, "dep": dep, "head": head} for lemma, pos, dep, head in tokens]


def test_root_verb_and_object_follow_the_papers_rule():
    write_poem = parse(("write", "VERB", "ROOT", 0), ("a", "DET", "det", 2), ("poem", "NOUN", "dobj", 0))
    pronoun_object = parse(("give", "VERB", "ROOT", 0), ("it", "PRON", "dobj", 0))  # the object must be a noun
    no_object = parse(("explain", "VERB", "ROOT", 0), ("why", "ADV", "advmod", 0))
    # the root is not a verb: the rule goes down to its first child ("Sure" -> "make" -> "list")
    down = parse(
        ("sure", "INTJ", "ROOT", 0),
        ("make", "VERB", "ccomp", 0),
        ("list", "NOUN", "dobj", 1),
        ("!", "PUNCT", "punct", 0),
    )
    dead_end = parse(
        ("answer", "NOUN", "ROOT", 0),
        ("yes", "INTJ", "appos", 0),
        ("make", "VERB", "conj", 0),
        ("list", "NOUN", "dobj", 2),
    )
    assert figures.root_verb_object(write_poem) == ("write", "poem")
    assert [figures.root_verb_object(p) for p in (pronoun_object, no_object, dead_end, [])] == [None, None, None, None]
    assert figures.root_verb_object(down) == ("make", "list")


class StandInParser:
    """VERB [det] NOUN at the start of the first sentence; every text parsed is recorded."""

    def __init__(self):
        self.seen = []

    def __call__(self, texts):
        for text in texts:
            self.seen.append(text)
            words = text.split(".")[0].lower().split()
            tokens = [{"lemma": words[0], "pos": "VERB", "dep": "ROOT", "head": 0}]
            for i, word in enumerate(words[1:], start=1):
                determiner = word in ("a", "an", "the")
                tokens.append({"lemma": word, "pos": "DET" if determiner else "NOUN",
                               "dep": "det" if determiner else "dobj",
                               "head": i + 1 if determiner else 0})
            yield tokens


def datasets_with_the_same_instructions(tmp_path: Path) -> tuple[Path, Path]:
    instructions = ["Give one tip for staying focused.", "Suggest a way to relax.", "How do I start running?"]
    teacher_a = ["Use a timer. Work for 25 minutes.", "Take a walk. Fresh air helps.", "Buy shoes first."]
    teacher_b = ["Silence the phone. It distracts.", "Take a walk. Slowly.", "Take a walk around the block."]
    paths = []
    for name, outputs in (("teacher_a", teacher_a), ("teacher_b", teacher_b)):
        rows = [{"instruction": i, "input": "", "output": o} for i, o in zip(instructions, outputs)]
        (tmp_path / f"{name}.json").write_text(json.dumps(rows))
        paths.append(tmp_path / f"{name}.json")
    return paths[0], paths[1]


def test_figure_1_tables_differ_for_the_same_instructions_with_different_outputs(tmp_path, monkeypatch):
    a, b = datasets_with_the_same_instructions(tmp_path)
    parser = StandInParser()
    monkeypatch.setattr(figures, "spacy_parser", lambda: parser)
    text = figures.report(tmp_path / "report", datasets=[a, b]).read_text()
    assert "| 1 | use timer (1) | take walk (2) |" in text and "| 3 | buy shoes (1) |  |" in text
    assert "Unique verb-noun pairs: teacher_a 3, teacher_b 2." in text
    assert not any("staying focused" in t for t in parser.seen)  # the outputs are parsed, never the instructions
    assert (tmp_path / "report" / "verb_objects.png").read_bytes()[:4] == PNG
    assert (tmp_path / "report" / "output_lengths.png").read_bytes()[:4] == PNG


def test_without_spacy_the_report_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)  # `import spacy` raises ImportError, as where it is not installed
    assert figures.spacy_parser() is None
    a, b = datasets_with_the_same_instructions(tmp_path)
    figures.report(tmp_path / "report", datasets=[a, b])
    hint = ("Root verb / direct object pairs need spaCy and its English pipeline: "
            "pip install spacy && python -m spacy download en_core_web_sm")
    assert hint in (tmp_path / "report" / "report.md").read_text().splitlines()
    assert not (tmp_path / "report" / "verb_objects.png").exists()


def test_the_data_statistics_are_numbers_in_the_report(tmp_path):
    a, b = datasets_with_the_same_instructions(tmp_path)
    a.write_text(json.dumps([{"instruction": "x", "input": "", "output": " ".join(["w"] * n)} for n in range(1, 11)]))
    b.write_text(json.dumps([{"instruction": "x", "input": "", "output": "一二三"}, {"instruction": "y", "input": "",
                                                                                 "output": "one two"}]))
    lines = figures.report(tmp_path / "report", datasets=[a, b]).read_text().splitlines()
    # 1..10 words: mean 5.5, median 5.5, 90th percentile 9.1 (linear interpolation); CJK characters one token each
    assert "| teacher_a | 10 | 5.5 | 5.5 | 9.1 |" in lines and "| teacher_b | 2 | 2.5 | 2.5 | 2.9 |" in lines


def test_output_lengths_count_cjk_characters():
    assert length_in_tokens("The cat sat on the mat.") == 6  # the paper's len(output.split()) on English
    assert (
        length_in_tokens("保持健康的三个提示：多运动。") == 12
    )  # characters; the full-width colon and stop are not words
    assert length_in_tokens("用 Python 3 写一个函数") == 8
    assert len("保持健康的三个提示：多运动。".split()) == 1  # what whitespace words would say


def comparison(model: str, reference: str, n: int, model_wins: int, seed: int) -> dict:
    """A judged comparison built through review_totals from reviews written here (reference as Assistant 1)."""
    import random

    rng = random.Random(seed)
    answers, reviews = {}, []
    for q in range(n):
        for m, words in ((model, rng.randint(20, 200)), (reference, rng.randint(20, 200))):
            answers[f"{m}-{q}"] = {"answer_id": f"{m}-{q}", "question_id": q, "model_id": m, "text": "w " * words}
        score = [6, 8] if q < model_wins else [8, 6] if q < n - 2 else [7, 7]
        reviews.append(
            {"question_id": q, "answer1_id": f"{reference}-{q}", "answer2_id": f"{model}-{q}", "score": score}
        )
    return review_totals(reviews, answers, {q: "generic" for q in range(n)}, reference)


@pytest.mark.parametrize("count", [2, 13])
def test_judge_figures_render_for_few_and_many_comparisons(tmp_path, count):
    references = ["gpt-3.5-turbo:20230327", "bard:20230327", "llama-13b:v1", "alpaca-13b:v1"]
    results = [comparison(f"model-{i}:v{i % 2}", references[i % 4], 40, 5 + 2 * i, i) for i in range(count)]
    figures.plot_totals(results, tmp_path / "judge_totals.png")
    figures.plot_length_bias(results, tmp_path / "length_bias.png")
    assert (tmp_path / "judge_totals.png").read_bytes()[:4] == PNG and (tmp_path / "length_bias.png").read_bytes()[
        :4
    ] == PNG
    assert figures.short_names(["vicuna-13b:a", "vicuna-13b:b", "bard:20230327"]) == {
        "vicuna-13b:a": "vicuna-13b:a", "vicuna-13b:b": "vicuna-13b:b", "bard:20230327": "bard"}


def test_rouge_figure_leaves_empty_buckets_out(tmp_path):
    results = {
        "student": rouge_l([{"label": "Paris", "output": "Paris"}, {"label": "the cat sat", "output": "the cat"}]),
        "teacher": rouge_l(
            [{"label": "Paris", "output": "It is Paris"}, {"label": "a b c d e f g h i j k l", "output": "a b c"}]
        ),
    }
    assert results["student"]["buckets"][">10"] == {"rouge_l": None, "count": 0}
    figures.plot_rouge(results, tmp_path / "rouge.png")
    assert (tmp_path / "rouge.png").read_bytes()[:4] == PNG
    assert "| student | 0.900 (2) | 1.000 (1) | 0.800 (1) | - (0) | - (0) |" in figures.rouge_table(results)


def test_rl_reward_curves_make_a_table_and_a_figure(tmp_path):
    """Curves as recipes/rl.py writes them (reward_curve.json in each run's output_dir); RLOO's has no KL logged
    (beta 0), and a run that logged nothing is a one-line error (here through the command line)."""

    grpo = [{"step": s, "reward": -1.0 + 0.25 * s, "reward_std": 0.5, "kl": 0.01 * s, "clipped_ratio": 0.25}
            for s in range(1, 9)]
    grpo[-1] |= {"reward": None, "reward_std": None, "clipped_ratio": 1.0}  # every completion cut off: none scored
    rloo = [{"step": s, "reward": 0.1 * s} for s in (2, 4)]
    cut = [{"step": 1, "reward": None, "reward_std": None, "kl": 0.0, "clipped_ratio": 1.0}]
    paths = []
    for name, curve in (("grpo-run", grpo), ("rloo-run", rloo), ("cut-run", cut)):
        (tmp_path / name).mkdir()
        paths.append(tmp_path / name / "reward_curve.json")
        paths[-1].write_text(json.dumps(curve))
    text = figures.report(tmp_path / "report", rl=paths).read_text()
    assert "| grpo-run | 8 | -0.750 ± 0.500 (step 1) | 0.750 ± 0.500 (step 7) | 0.080 | 34% |" in text
    assert "| rloo-run | 2 | 0.200 (step 2) | 0.400 (step 4) | - | - |" in text and "![](rl_reward.png)" in text
    assert "| cut-run | 1 | - (every completion cut off) | - (every completion cut off) | 0.000 | 100% |" in text
    assert (tmp_path / "report" / "rl_reward.png").read_bytes()[:4] == PNG

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "reward_curve.json").write_text("[]")
    empty = tmp_path / "empty" / "reward_curve.json"
    result = subprocess.run([sys.executable, "-m", "eval", "report", "--rl", str(empty), "--output-dir",
                             str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {empty}: no logged step (the RL run logged no reward)"
