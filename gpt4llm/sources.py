"""Public files the recipes and evaluations read, downloaded on the user's machine and pinned by checksum.

`fetch(name)` downloads once into the cache, verifies the pin, and renames into place, so a cached file is
always a complete, verified one. Datasets name these as `release:NAME`.
"""

import hashlib
import re
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote

from .files import atomic_file, cache_dir

GPT4LLM_COMMIT = "80cda626ea305004be42426671c66efebbf22144"
_GPT4LLM_RAW = f"https://raw.githubusercontent.com/Instruction-Tuning-with-GPT-4/GPT-4-LLM/{GPT4LLM_COMMIT}/data"
# The last main-line FastChat commit with the original Vicuna evaluation tables (the next one, a0ba8c97, deprecates
# them); the pins below are of the files' content at that commit.
FASTCHAT_COMMIT = "69d085eadab8e9fcf831a97e17e132658c3d2272"
_FASTCHAT_TABLE = f"https://raw.githubusercontent.com/lm-sys/FastChat/{FASTCHAT_COMMIT}/fastchat/eval/table"
# MT-bench (FastChat's llm_judge) at the newest main-line commit. Its questions, judge prompts and GPT-4 reference
# answers are unchanged since 7ad1d638 (2023-07-04), the judge prompts' last revision ("positional biases" became
# "position biases" in the pairwise ones); at the commit above they still read "positional".
FASTCHAT_LLM_JUDGE_COMMIT = "0e6d3e4beaab66f4d3f93db72541a4abab8af28d"
_MT_BENCH = f"https://raw.githubusercontent.com/lm-sys/FastChat/{FASTCHAT_LLM_JUDGE_COMMIT}/fastchat/llm_judge/data"
# AlpacaEval at its newest commit (2025-04): the evaluation set with its baseline's outputs, the weighted annotator's
# prompt, the leaderboard and every leaderboard model's published annotations live in the repository; the two
# tables its length-controlled GLM reads live in the tatsu-lab/alpaca_eval dataset on the Hub.
ALPACA_EVAL_COMMIT = "cd543a149df89434d8a54582c0151c0b945c3d20"
_ALPACA_EVAL = f"https://raw.githubusercontent.com/tatsu-lab/alpaca_eval/{ALPACA_EVAL_COMMIT}"
ALPACA_EVAL_DATA_REVISION = "2edc6fad8be6b14ea7230aabfd08188da6b8b814"
# MT-bench's published judgments: GPT-4's, of the leaderboard's models, in the lmsys/mt-bench space (what FastChat's
# download_mt_bench_pregenerated.py fetches from `main`), and the MT-bench paper's expert votes with GPT-4's verdicts
# on the same pairs, in the lmsys/mt_bench_human_judgments dataset. The pins are those public MT-bench studies record
# for these revisions (two independent records agree on gpt-4_pair.jsonl's).
MT_BENCH_SPACE_REVISION = "6e465b26cb18b64e48b3858d54ac655736cf07b6"
_MT_BENCH_SPACE = f"https://huggingface.co/spaces/lmsys/mt-bench/resolve/{MT_BENCH_SPACE_REVISION}/data/mt_bench"
MT_BENCH_HUMAN_REVISION = "f7d2896d2cc5d80f8b55c2bbc722613555233c25"
_MT_BENCH_HUMAN = f"https://huggingface.co/datasets/lmsys/mt_bench_human_judgments/resolve/{MT_BENCH_HUMAN_REVISION}/data"
_ALPACA_EVAL_DATA = f"https://huggingface.co/datasets/tatsu-lab/alpaca_eval/resolve/{ALPACA_EVAL_DATA_REVISION}"
HUB_FILE = re.compile(r"https://huggingface\.co/(?P<type>datasets/|spaces/)?(?P<repo>[^/]+/[^/]+)/resolve/"
                      r"(?P<revision>[^/]+)/(?P<path>.+)")


@dataclass(frozen=True)
class Source:
    url: str
    description: str
    git_blob_sha1: str | None = None  # what `git hash-object FILE` prints: the pin a repository records
    sha256: str | None = None

    def verify(self, data: bytes) -> None:
        if self.git_blob_sha1 and (digest := git_blob_sha1(data)) != self.git_blob_sha1:
            raise ValueError(f"{self.url}: changed since it was pinned: git blob {digest}, pinned "
                             f"{self.git_blob_sha1}")
        if self.sha256 and (digest := hashlib.sha256(data).hexdigest()) != self.sha256:
            raise ValueError(f"{self.url}: changed since it was pinned: sha256 {digest}, pinned {self.sha256}")


SOURCES = {
    "alpaca_gpt4_en": Source(
        f"{_GPT4LLM_RAW}/alpaca_gpt4_data.json",
        "52K GPT-4 answers to the Alpaca instructions (English), CC BY-NC 4.0",
        git_blob_sha1="25508714b7879a1e5a6764ba7f979a980f549f1a",
    ),
    "alpaca_gpt4_zh": Source(
        f"{_GPT4LLM_RAW}/alpaca_gpt4_data_zh.json",
        "52K GPT-4 answers to the translated Alpaca instructions (Chinese), CC BY-NC 4.0",
        git_blob_sha1="af092742e9bc3b83fa6feb13203b793aafc9dffc",
    ),
    "comparison_v2": Source(
        f"{_GPT4LLM_RAW}/comparison_data_v2.json",
        "GPT-4's 1-10 ratings of responses from GPT-4, GPT-3.5 and OPT-IML, CC BY-NC 4.0",
        git_blob_sha1="decb04ca4c911d821a67364dfe058c4d383f241e",
    ),
    "unnatural_gpt4": Source(
        f"{_GPT4LLM_RAW}/unnatural_instruction_gpt4_data.json",
        "GPT-4 answers to 68K Unnatural Instructions with the ground-truth label, CC BY-NC 4.0",
        git_blob_sha1="b2ff691552defddbbe5ca4a1be792c26f852d917",
    ),
    "gpt4llm_plots": Source(
        f"https://raw.githubusercontent.com/Instruction-Tuning-with-GPT-4/GPT-4-LLM/{GPT4LLM_COMMIT}/plots/main_plots.ipynb",
        "The paper's plotting notebook, holding the GPT-4-judged Vicuna-80 totals of Figure 4, Apache-2.0",
        git_blob_sha1="2d2778856ba1dabb9d7af13b61a6e08c968128c0",
    ),
    # Evaluation benchmarks: FastChat's Vicuna-80 protocol (questions, GPT-4 reviewer prompts, ChatGPT's and Bard's
    # answers as references) and self-instruct's User-Oriented-252.
    "vicuna80": Source(
        f"{_FASTCHAT_TABLE}/question.jsonl",
        "The 80 Vicuna questions {question_id, text, category}, Apache-2.0",
        sha256="590c39157bc561eadd7f03cad4be18c2b597f93029780af65f86718f39eafa87",
    ),
    "fastchat_reviewers": Source(
        f"{_FASTCHAT_TABLE}/reviewer.jsonl",
        "FastChat's GPT-4 reviewers (general, coding, math), Apache-2.0",
        sha256="f9bbe8afca441761cbbe5ed3298101e63e8e2d42a2f1dea0ce2c5c991b8d5893",
    ),
    "fastchat_review_prompts": Source(
        f"{_FASTCHAT_TABLE}/prompt.jsonl",
        "FastChat's reviewer prompts, Apache-2.0",
        sha256="475f1ff9e2872fe0ffd43db38fd5c3277f46fe6b2d62fcd2f968a0c9e59391a3",
    ),
    "vicuna80_answers_chatgpt": Source(
        f"{_FASTCHAT_TABLE}/answer/answer_gpt35.jsonl",
        "ChatGPT's answers to Vicuna-80 (FastChat), Apache-2.0",
        sha256="c6545739b0738eba5f9348e77f680031aec076a72ecba71b3014e7b1b0dfe099",
    ),
    "vicuna80_answers_bard": Source(
        f"{_FASTCHAT_TABLE}/answer/answer_bard.jsonl",
        "Bard's answers to Vicuna-80 (FastChat), Apache-2.0",
        sha256="3b807061959b50b2c7cc2d278c02ce4a1608c6afe366d22613ba90be6c9a3f3f",
    ),
    **{
        f"vicuna80_answers_{name}": Source(
            f"{_FASTCHAT_TABLE}/answer/answer_{file}.jsonl", f"{model}'s answers to Vicuna-80 (FastChat), Apache-2.0",
            sha256=sha256,
        )
        for name, file, model, sha256 in (
            ("llama13b", "llama-13b", "LLaMA-13B",
             "cbe933439a8a70107761929d72731979ece34e1df0bcdba11af8817ce9975f40"),
            ("alpaca13b", "alpaca-13b", "Alpaca-13B",
             "50a6a9274da00cc74e8b3a8e3e92be2ba23ed6f2bf6ae9bbcc3082424acea540"),
            ("vicuna13b", "vicuna-13b", "Vicuna-13B (20230322-clean-lang)",
             "d1a4b3a5d2e3ca90d2d55084ee25d4d90e63e65ac647bf50359da8633e16d0b8"),
            ("vicuna13b_new_hp", "vicuna-13b-20230322-new-hp-fp16", "Vicuna-13B (20230322-new-hp-fp16)",
             "4bac993e6d7f8209c985f73e868dc52f97cf4f3ce11a3d1a99513c76addc0b8d"),
            ("vicuna7b", "vicuna-7b-20230322-fp16", "Vicuna-7B (20230322-fp16)",
             "993a3c576f6c78413c8934789454914a4e74673bb57fd981d826f03dc07182a5"),
        )
    },
    # FastChat's 13 published GPT-4 review sets of Vicuna-80 (1,040 reviews): the verdicts `eval calibrate` measures a
    # new judge against, named vicuna80_gpt4_reviews_<folder>__<file>
    **{
        f"vicuna80_gpt4_reviews_{folder}__{file}": Source(
            f"{_FASTCHAT_TABLE}/review/{folder}/review_{file}.jsonl",
            f"GPT-4's reviews of Vicuna-80 answers, {file.replace('_', ' vs ')} (FastChat), Apache-2.0",
            sha256=sha256,
        )
        for folder, file, sha256 in (
            ("others", "llama_alpaca-13b", "11c4ac8861fc7f45ac40993cc3933435fc21e533bab3dfc4c276bf77fb825c2e"),
            ("vicuna-13b_20230322-clean-lang", "alpaca-13b_vicuna-13b",
             "c8fd15e3e128684e6096adc2c93ded78bff5b6c9052c4ec59526c50eee474a6d"),
            ("vicuna-13b_20230322-clean-lang", "bard_vicuna-13b",
             "a5a9d6e77e053d466568abb4834e58b0983e253c81bc63068a8bc3d5984966fb"),
            ("vicuna-13b_20230322-clean-lang", "gpt35_vicuna-13b",
             "370f496e6d871c9d932c3ddbe6ccdcbfa9ad04a44b04e037b26e7ac474d9ed56"),
            ("vicuna-13b_20230322-clean-lang", "llama-13b_vicuna-13b",
             "2a66bf23d002fa7d85250233d495ee5ad95fbbd39ffc4c829c1d51865874a1cb"),
            ("vicuna-13b_20230322-new-hp-fp16", "alpaca-13b_vicuna-13b-20230322-new-hp-fp16",
             "c70f4ebbacbede219aa5adb868d376b7758b6ce016d61fa62c36af2db456486f"),
            ("vicuna-13b_20230322-new-hp-fp16", "bard_vicuna-13b-20230322-new-hp-fp16",
             "eba023a67525bb2c84d17ea5aaae9790bc6309d712150c5c29b1384a21fcdfc4"),
            ("vicuna-13b_20230322-new-hp-fp16", "gpt35_vicuna-13b-20230322-new-hp-fp16",
             "9d55f2e94ae5cdcc097836f7275b09929a76623f592cf941e63c1c7e379ba639"),
            ("vicuna-13b_20230322-new-hp-fp16", "llama_vicuna-13b-20230322-new-hp-fp16",
             "4ef5493d57c34733ba78e8e5a9ae4e7645c8459f5ac8520ae582c78b431e02eb"),
            ("vicuna-7b_20230322-fp16", "alpaca-13b_vicuna-7b",
             "571cbe45c687c4dc55357eb603ee91547ddb199118ae25ff1dd97cd239d570a3"),
            ("vicuna-7b_20230322-fp16", "bard_vicuna-7b",
             "bb81329f9f83eee03f66d7ca8e882dc472e769cf23b8cdf1097d5face78ade81"),
            ("vicuna-7b_20230322-fp16", "gpt35_vicuna-7b",
             "4b799ec847abfb427c88b0503597d380eb923b2b97dd54e5e8f6b98bfffbb180"),
            ("vicuna-7b_20230322-fp16", "llama_vicuna-7b",
             "26719d3424a4ea1326dff6f741f98cae85655dd5a7ec1553b7e846416a952ab4"),
        )
    },
    "mt_bench": Source(
        f"{_MT_BENCH}/mt_bench/question.jsonl",
        "MT-bench: 80 two-turn questions {question_id, category, turns, reference} in 8 categories, Apache-2.0",
        sha256="119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7",
    ),
    "mt_bench_judge_prompts": Source(
        f"{_MT_BENCH}/judge_prompts.jsonl",
        "FastChat's llm_judge prompts: single-answer grading and pairwise, first and second turn, with and without "
        "a reference answer {name, type, system_prompt, prompt_template, output_format}, Apache-2.0",
        sha256="fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6",
    ),
    "mt_bench_reference_gpt4": Source(
        f"{_MT_BENCH}/mt_bench/reference_answer/gpt-4.jsonl",
        "GPT-4's reference answers to MT-bench's 30 math, reasoning and coding questions (llm_judge answer schema), "
        "Apache-2.0",
        sha256="f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f",
    ),
    "mt_bench_gpt4_pair": Source(
        f"{_MT_BENCH_SPACE}/model_judgment/gpt-4_pair.jsonl",
        "GPT-4's pairwise MT-bench judgments: each leaderboard model against gpt-3.5-turbo, both turns, in both "
        "orders (g1, g2), 4,800 games (llm_judge schema), Apache-2.0",
        sha256="d662c0b7d1d297f0494fcb4cc09fe8f054fa22d75deb4754a483a921984bc585",
    ),
    # No public record gives this file's checksum: it is pinned by the space's commit, and verified against the
    # digest the Hub's git records for it at that commit (`recorded_pin`).
    "mt_bench_gpt4_single": Source(
        f"{_MT_BENCH_SPACE}/model_judgment/gpt-4_single.jsonl",
        "GPT-4's single-answer MT-bench grades (1 to 10) of the leaderboard's models, both turns (llm_judge schema), "
        "Apache-2.0",
    ),
    "mt_bench_human_judgments": Source(
        f"{_MT_BENCH_HUMAN}/human-00000-of-00001-25f4910818759289.parquet",
        "The MT-bench paper's 3,355 expert and author votes on pairs of six models' answers {question_id, model_a, "
        "model_b, winner, judge, conversation_a, conversation_b, turn} (split human), CC BY 4.0",
        sha256="4877bc46a40929f4082c3c79593700fb897b1d6c7f4c473032694a01322f5769",
    ),
    "mt_bench_human_judgments_gpt4": Source(
        f"{_MT_BENCH_HUMAN}/gpt4_pair-00000-of-00001-c0b431264a82ddc0.parquet",
        "GPT-4's pairwise verdicts on the same six models' 2,400 pairs, both orders combined (an order disagreement "
        "is 'tie (inconsistent)'), same schema (split gpt4_pair), CC BY 4.0",
        sha256="57068327ffb5f8fddb15fedbbfe40b26fe862da2326331e5cf64a42320a00e71",
    ),
    # AlpacaEval 2. The evaluation set is the baseline's (gpt4_1106_preview's) output file: the 805 instructions with
    # their `dataset` subset (selfinstruct: the paper's User-Oriented-252, vicuna: its Vicuna-80), byte for byte the
    # dataset's alpaca_eval_gpt4_baseline.json. The Hub tables' pins are those a public AlpacaEval runner records for
    # revision 2edc6fad, whose pins of the two files above match what we computed from the repository.
    "alpaca_eval": Source(
        f"{_ALPACA_EVAL}/results/gpt4_1106_preview/model_outputs.json",
        "AlpacaEval 2: 805 instructions {dataset, instruction, output, generator} with the baseline's (GPT-4 "
        "Turbo's, gpt4_1106_preview) outputs, Apache-2.0 (code) / CC BY-NC 4.0 (data)",
        sha256="83db546b872ddebee8965fd05fa48461ee3c32bc695c62fb57f2d214ff741ec4",
    ),
    "alpaca_eval_annotator_prompt": Source(
        f"{_ALPACA_EVAL}/src/alpaca_eval/evaluators_configs/alpaca_eval_clf_gpt4_turbo/alpaca_eval_clf.txt",
        "AlpacaEval 2's weighted annotator prompt (weighted_alpaca_eval_gpt4_turbo; ChatML; answers m or M), "
        "Apache-2.0",
        sha256="784227e6dc2832fc08c43d2c8ea3a308e7523780187a1aaad2f85e30bac85f62",
    ),
    "alpaca_eval_leaderboard": Source(
        f"{_ALPACA_EVAL}/src/alpaca_eval/leaderboards/data_AlpacaEval_2/weighted_alpaca_eval_gpt4_turbo_leaderboard.csv",
        "AlpacaEval 2's leaderboard (weighted_alpaca_eval_gpt4_turbo): win rates, LC win rates, lengths, Apache-2.0",
        sha256="fe32bf85c2f7429038faa4c9a884d1d131726454ff84a4b810a91c1c7a2aa0e9",
    ),
    "alpaca_eval_gamed": Source(
        f"{_ALPACA_EVAL_DATA}/df_gamed.csv",
        "The annotations of the baseline's length-gamed variants and each instruction's difficulty: what AlpacaEval's "
        "length-controlled GLM (length_controlled_v1) is fitted with besides a model's annotations, CC BY-NC 4.0",
        sha256="97aeec3f1c7de6dee6fd31fe66f1702623f4614c3efe1c6fc5f4927cd5fd674d",
    ),
    "alpaca_eval_instruction_difficulty": Source(
        f"{_ALPACA_EVAL_DATA}/instruction_difficulty.csv",
        "AlpacaEval's per-instruction difficulty (what its GLM predicts win rates against other baselines with), "
        "CC BY-NC 4.0",
        sha256="e28d875bb334f75e17acd1e4ed659b261860e3db379cf5de29060301bed0a18b",
    ),
    # Published gpt-4-turbo annotations of leaderboard models, to replay the leaderboard or calibrate a judge against
    **{
        f"alpaca_eval_annotations_{model}": Source(
            f"{_ALPACA_EVAL}/results/{model}/weighted_alpaca_eval_gpt4_turbo/annotations.json",
            f"gpt-4-turbo's AlpacaEval 2 annotations of {model} against gpt4_1106_preview, Apache-2.0 / CC BY-NC 4.0",
            sha256=sha256,
        )
        for model, sha256 in (
            ("alpaca-7b", "41047c654c6c5ddc0290fb207367e3f458d22692045eb41927eb64103a2cb764"),
            ("alpaca-7b_concise", "afa1dcc9daa47b9df7f50b2c09f489289008da0961f51e946f623e0a338947b0"),
            ("alpaca-7b_verbose", "bc02ca337d9c3bf38382e76d4f44584570ad64bec6b2d90f9adb55f0b4c2d107"),
            ("vicuna-7b", "86387fd674fc860d352750ff022c4d3b12daaf2fc51f0c70e62da81205f0a4f4"),
            ("text_davinci_003", "ee0f02243b76628d54ac64bd5310183874ca7c72548d5381bf2b35018ad58027"),
            ("gpt-3.5-turbo-1106", "4558bed562144780dfcdd5ff55cafc17d76eea62eca143cfcc7ac5f3c154de10"),
            ("gpt4_gamed", "3f70f086d97cf7f1c9b1b2ad16a2ac189a95e75a08c9374780e174a1f11dbf02"),
            ("NullModel", "d8e6d6d8ad735b57149fe0d9cb307e095cdc8befee5f0a849e00d66912500be3"),
            ("gpt4_1106_preview", "2a05177cffbab8fa409adf7ee1f0f90414cab169afe391b861489a5734c79363"),
        )
    },
    # The Unnatural Instructions core set as the Hub stores it (the authors' GitHub copy is a zip); the pin is the
    # file's Git LFS sha256, and 28,584,196 bytes. The paper scores ROUGE-L on 9K of its instances.
    "unnatural_core": Source(
        "https://huggingface.co/datasets/mrm8488/unnatural-instructions-core/resolve/afc0887e8432b8f422f5a86b641fb5a89c972be9/data/train-00000-of-00001-67e9a728f5042377.parquet",
        "Unnatural Instructions core: 66,010 instructions, 68,478 {input, output} instances, MIT",
        sha256="84c0a36014a889ad653109197901ef58d6928199971cd00c6253d40197542693",
    ),
    "user_oriented252": Source(
        "https://raw.githubusercontent.com/yizhongw/self-instruct/bcc81cd86765a7c11224809ffda727de289a6454/human_eval/user_oriented_instructions.jsonl",
        "The 252 User-Oriented instructions {id, motivation_app, instruction, instances}, Apache-2.0",
        sha256="81d60a117db495cecedecd9193504fd07c5b5a42f6699ef6b0f9da10fc22f42e",
    ),
}


# FastChat's Vicuna-80 answer files and GPT-4 review sets, as a stored evaluation to replay or calibrate against
FASTCHAT_VICUNA80_ANSWERS = tuple(name for name in SOURCES if name.startswith("vicuna80_answers_"))
FASTCHAT_VICUNA80_GPT4_REVIEWS = tuple(name for name in SOURCES if name.startswith("vicuna80_gpt4_reviews_"))

# The MT-bench paper's agreement set: expert votes and GPT-4's verdicts on the same pairs
MT_BENCH_HUMAN_AGREEMENT = ("mt_bench_human_judgments", "mt_bench_human_judgments_gpt4")

ALPACA_EVAL_PUBLISHED = tuple(name for name in SOURCES if name.startswith("alpaca_eval_annotations_"))

# The evaluation benchmarks, which `data_gen decontaminate` checks training data against by default
EVALUATION_BENCHMARKS = ("vicuna80", "user_oriented252", "unnatural_core", "mt_bench", "alpaca_eval")


def git_blob_sha1(data: bytes) -> str:
    """The id git gives a file's content (`git hash-object`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def fetch(name: str) -> Path:
    """The verified local copy of a registered source, downloaded on first use."""
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; known: {sorted(SOURCES)}")
    source = SOURCES[name]
    target = cache_dir() / "sources" / f"{name}{Path(source.url).suffix}"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    pin = source if source.sha256 or source.git_blob_sha1 else recorded_pin(source)
    data = download(source.url)
    pin.verify(data)
    with atomic_file(target, "wb") as file:
        file.write(data)
    return target


def download(url: str) -> bytes:
    """A file's bytes. A file on the Hub goes through huggingface_hub, so that HF_ENDPOINT (a mirror), the user's
    token and the Hub's own download paths apply; anything else is a plain GET."""
    if hub_file := _hub_file(url):
        import tempfile

        from huggingface_hub import hf_hub_download

        with tempfile.TemporaryDirectory() as folder:
            return Path(hf_hub_download(**hub_file, local_dir=folder)).read_bytes()
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def recorded_pin(source: Source) -> Source:
    """A Hub file pinned by a commit alone, with the digest the Hub's git records for it at that commit: the LFS
    sha256, or the blob id of a file kept in git. A commit fixes both, so a download either matches or was changed
    on the way."""
    hub_file = _hub_file(source.url)
    if not hub_file or not re.fullmatch(r"[0-9a-f]{40}", hub_file["revision"]):
        raise ValueError(f"{source.url}: no checksum and not a file at a Hub commit; pin one or the other")
    from huggingface_hub import HfApi

    entries = HfApi().get_paths_info(hub_file["repo_id"], [hub_file["filename"]], repo_type=hub_file["repo_type"],
                                     revision=hub_file["revision"])
    if not entries or not hasattr(entries[0], "blob_id"):
        raise ValueError(f"{source.url}: the Hub has no such file at that commit")
    if entries[0].lfs:
        return replace(source, sha256=entries[0].lfs.sha256)
    return replace(source, git_blob_sha1=entries[0].blob_id)


def _hub_file(url: str) -> dict | None:
    """A Hub file URL as huggingface_hub's download arguments; None for any other URL."""
    if not (hub_file := HUB_FILE.fullmatch(url)):
        return None
    return {"repo_id": hub_file["repo"], "filename": unquote(hub_file["path"]), "revision": hub_file["revision"],
            "repo_type": {"datasets/": "dataset", "spaces/": "space"}.get(hub_file["type"] or "", "model")}
