"""Publishing to the Hub, offline: the real huggingface_hub and datasets clients against tests/fake_hub.py."""

import json


import pytest
from conftest import HUB_TOKEN as TOKEN
from fake_hub import FakeHub
from fake_openai import FakeOpenAI

ALPACA = [
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well, sleep, move."},
    {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
    {"instruction": "Add the numbers.", "input": "2, 3", "output": "5"},
]


def load(repo_id: str, tmp_path, name: str = "load"):
    from datasets import load_dataset

    return load_dataset(repo_id, split="train", cache_dir=str(tmp_path / name))


def no_token_in_files(hub: FakeHub, *secrets: str) -> None:
    """The token reached the Hub only as a request header, never inside an uploaded file (any commit, any repo),
    nor did any other secret given."""
    assert hub.authorizations == {f"Bearer {TOKEN}"}
    for secret in (TOKEN, *secrets):
        for key, repo in hub.repos.items():
            for commit in repo.commits:
                for path, data in commit["files"].items():
                    assert secret.encode() not in data, f"{key}@{commit['oid']}:{path}"
        for data in hub.blobs.values():
            assert secret.encode() not in data


def changed(parent: dict, commit: dict) -> list[str]:
    """The paths a commit added, changed or deleted."""
    paths = set(parent["files"]) | set(commit["files"])
    return sorted(p for p in paths if parent["files"].get(p) != commit["files"].get(p))


def make_folder(tmp_path):
    folder = tmp_path / "upload"
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n# x\n\nA small dataset.\n")
    (folder / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ALPACA))
    return folder


def test_upload_folder_and_download_round_trip(hub, tmp_path):
    from huggingface_hub import HfApi, hf_hub_download

    folder = make_folder(tmp_path)
    api = HfApi()
    url = api.create_repo("user/x", repo_type="dataset")
    assert url.repo_id == "user/x" and url.repo_type == "dataset"
    api.upload_folder(repo_id="user/x", repo_type="dataset", folder_path=folder, commit_message="add data")
    # A binary file goes through LFS: the batch API, then the upload URL it hands out.
    api.upload_file(repo_id="user/x", repo_type="dataset", path_or_fileobj=bytes(range(256)) * 40,
                    path_in_repo="data/blob.bin", commit_message="add a blob")

    repo = hub.repos["datasets/user/x"]
    assert [c["title"] for c in repo.commits] == ["initial commit", "add data", "add a blob"]
    assert repo.lfs == {"data/blob.bin"}
    for path in ("README.md", "data/train.jsonl"):
        local = hf_hub_download("user/x", path, repo_type="dataset")
        assert open(local, "rb").read() == (folder / path).read_bytes() == repo.files[path]
    assert open(hf_hub_download("user/x", "data/blob.bin", repo_type="dataset"), "rb").read() == bytes(range(256)) * 40
    assert any(r.startswith("PUT /lfs-storage/") for r in hub.requests)

    info = api.dataset_info("user/x", files_metadata=True)
    assert info.sha == repo.sha
    assert {s.rfilename for s in info.siblings} == {".gitattributes", "README.md", "data/train.jsonl", "data/blob.bin"}
    assert {f.path for f in api.list_repo_tree("user/x", repo_type="dataset", recursive=True)} == {
        ".gitattributes", "README.md", "data", "data/train.jsonl", "data/blob.bin"}

    # The same folder again changes nothing: no new commit.
    api.upload_folder(repo_id="user/x", repo_type="dataset", folder_path=folder, commit_message="again")
    assert len(repo.commits) == 3
    assert hub.unknown == []
    no_token_in_files(hub)


def test_load_dataset_from_the_stand_in(hub, tmp_path):
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo("user/x", repo_type="dataset")
    api.upload_folder(repo_id="user/x", repo_type="dataset", folder_path=make_folder(tmp_path))
    assert load("user/x", tmp_path).to_list() == ALPACA
    assert hub.unknown == []
    no_token_in_files(hub)


def test_data_gen_answers_a_hub_dataset_and_publishes_records_and_card(hub, tmp_path):
    """`python -m data_gen answer --input user/seeds --push-to-hub user/alpaca-gpt4`, as a user runs it: the
    instructions pulled from the stand-in, answered by a fake teacher, the records and their card pushed back."""
    from huggingface_hub import DatasetCard, HfApi

    from test_data_gen import SECRET, data_gen

    api = HfApi()
    api.create_repo("user/seeds", repo_type="dataset")
    api.upload_folder(repo_id="user/seeds", repo_type="dataset", folder_path=make_folder(tmp_path))
    output = tmp_path / "answers.json"
    command = ("answer", "--input", "user/seeds", "--output", output, "--model", "teacher-1",
               "--push-to-hub", "user/alpaca-gpt4")
    with FakeOpenAI() as teacher:
        data_gen(*command, "--base-url", teacher.url, env=hub.env)
        records = json.loads(output.read_text())
        assert [r["instruction"] for r in records] == [r["instruction"] for r in ALPACA]

        repo = hub.repos["datasets/user/alpaca-gpt4"]
        first = repo.commits[1:]  # after the Hub's initial commit: the records, then the card
        assert [c["title"] for c in first] == ["Upload the records", "Dataset card"]
        assert load("user/alpaca-gpt4", tmp_path).to_list() == records
        data_files = {p: d for p, d in repo.files.items() if p.startswith("data/")}
        assert list(data_files) == ["data/train-00000-of-00001.parquet"] and repo.lfs == set(data_files)
        card = DatasetCard(repo.files["README.md"].decode())
        assert "teacher: `teacher-1`" in card.text and "- records: 3" in card.text
        assert card.data.license == "cc-by-nc-4.0" and "gpt4llm" in card.data.tags
        # datasets' own metadata survives the card: the split's size and the features, as the viewer reads them
        assert card.data.dataset_info["splits"] == [{"name": "train", "num_bytes": card.data.dataset_info["splits"][0][
            "num_bytes"], "num_examples": 3}]
        assert card.data.configs == [{"config_name": "default", "data_files": [
            {"split": "train", "path": "data/train-*"}]}]
        print("data_gen --push-to-hub:", sorted(repo.files), len(first), "commits")

        data_gen(*command, "--base-url", teacher.url, env=hub.env)  # the same run again: resumed, nothing new
    assert repo.commits[1 + len(first):] == []
    assert {p: d for p, d in repo.files.items() if p.startswith("data/")} == data_files
    assert hub.unknown == []
    no_token_in_files(hub, SECRET)



def test_a_push_the_hub_refuses_is_one_line_and_keeps_the_records(hub, tmp_path, monkeypatch):
    """No token: the Hub answers 401; the records are on disk, and the error says a rerun pushes them."""
    from test_data_gen import data_gen

    monkeypatch.delenv("HF_TOKEN")
    output = tmp_path / "answers.json"
    seeds = tmp_path / "seeds.json"
    seeds.write_text(json.dumps(ALPACA))
    with FakeOpenAI() as teacher:
        failed = data_gen("answer", "--input", seeds, "--output", output, "--model", "teacher-1", "--base-url",
                          teacher.url, "--push-to-hub", "user/alpaca-gpt4", check=False,
                          env={k: v for k, v in hub.env.items() if k != "HF_TOKEN"})
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {output}: written, but not pushed to user/alpaca-gpt4: ") and "401" in last
    assert last.endswith("the same command again pushes it without new requests")
    assert len(json.loads(output.read_text())) == len(ALPACA) and hub.repos == {}


def test_a_registered_hub_source_is_pulled_through_the_endpoint_and_a_changed_file_is_named(hub, tmp_path,
                                                                                              monkeypatch):
    """The Unnatural Instructions core Parquet, at its pinned repository, revision and path, served by the stand-in
    (HF_ENDPOINT is how users reach a mirror): fetched and verified; the same path with other bytes is a one-line
    error naming the file and both checksums, and nothing is cached."""
    import hashlib

    from huggingface_hub import HfApi

    from gpt4llm.data import DataError, load_records
    from gpt4llm.sources import HUB_FILE, SOURCES

    source = SOURCES["unnatural_core"]
    pinned = HUB_FILE.fullmatch(source.url)
    core = [{"instruction": "Add one.", "instances": [{"input": "1", "output": "2"}]},
            {"instruction": "Double.", "instances": [{"input": "2", "output": "4"}, {"input": "3", "output": "6"}]}]
    served = write_parquet(core)
    monkeypatch.setenv("GPT4LLM_CACHE", str(tmp_path / "cache"))
    # the pin of these bytes: the real file is not ours to serve
    monkeypatch.setitem(SOURCES, "unnatural_core",
                        type(source)(source.url, source.description, sha256=hashlib.sha256(served).hexdigest()))

    api = HfApi()
    api.create_repo(pinned["repo"], repo_type="dataset")

    def serve(data: bytes) -> None:
        api.upload_file(path_or_fileobj=data, path_in_repo=pinned["path"], repo_id=pinned["repo"], repo_type="dataset")
        repo = hub.repos[f"datasets/{pinned['repo']}"]
        repo.refs[pinned["revision"]] = repo.sha

    serve(write_parquet(core[:1]))  # the file changed upstream
    with pytest.raises(DataError) as error:
        load_records("release:unnatural_core")
    message = str(error.value)
    assert "\n" not in message and pinned["path"] in message
    assert hashlib.sha256(write_parquet(core[:1])).hexdigest() in message
    assert hashlib.sha256(served).hexdigest() in message
    assert not (tmp_path / "cache" / "sources").exists() or not list((tmp_path / "cache" / "sources").iterdir())

    serve(served)
    assert [row["instruction"] for row in load_records("release:unnatural_core").rows] == ["Add one.", "Double."]
    assert any(f"/resolve/{pinned['revision']}/" in request for request in hub.requests)
    assert hub.unknown == []


@pytest.mark.parametrize("kept_in", ["git", "LFS"])
def test_a_source_pinned_by_a_hub_commit_is_verified_against_what_the_hub_records_there(hub, tmp_path, monkeypatch,
                                                                                        kept_in):
    """MT-bench's published single-answer grades have no public checksum: the space's commit pins them, and the
    download is checked against the digest the Hub records for the file at that commit (the git blob id of a file
    kept in git, the sha256 of one kept in LFS). Bytes changed on the way are a one-line error and nothing is
    cached; a commit without the file is one line too."""
    from huggingface_hub import HfApi

    from gpt4llm.data import DataError, load_records
    from gpt4llm.sources import HUB_FILE, SOURCES

    monkeypatch.setenv("GPT4LLM_CACHE", str(tmp_path / "cache"))
    source = SOURCES["mt_bench_gpt4_single"]
    assert source.sha256 is None and source.git_blob_sha1 is None
    if kept_in == "LFS":  # the stand-in keeps .parquet files in LFS, as the Hub does
        source = type(source)(source.url.replace(".jsonl", ".parquet"), source.description)
        monkeypatch.setitem(SOURCES, "mt_bench_gpt4_single", source)
    pinned = HUB_FILE.fullmatch(source.url)
    grades = [{"question_id": 81, "model": "m", "judge": ["gpt-4", "single-v1"], "user_prompt": "p",
               "judgment": "Rating: [[7]]", "score": 7, "turn": 1, "tstamp": 0.0}]
    served = (write_parquet(grades) if kept_in == "LFS"
              else "".join(json.dumps(row) + "\n" for row in grades).encode())
    api = HfApi()
    api.create_repo(pinned["repo"], repo_type="space", space_sdk="gradio")
    repo = hub.repos[f"spaces/{pinned['repo']}"]

    def serve(path_in_repo: str, data: bytes) -> None:
        api.upload_file(path_or_fileobj=data, path_in_repo=path_in_repo, repo_id=pinned["repo"], repo_type="space")
        repo.refs[pinned["revision"]] = repo.sha

    serve("README.md", b"# MT-bench")  # the pinned commit has no such file
    with pytest.raises(DataError, match=rf"^mt_bench_gpt4_single: .*{pinned['path']}: the Hub has no such file at "
                                        "that commit$"):
        load_records("mt_bench_gpt4_single")

    serve(pinned["path"], served)
    assert (pinned["path"] in repo.lfs) == (kept_in == "LFS")
    hub.altered[f"spaces/{pinned['repo']}/{pinned['path']}"] = served.replace(b"single-v1", b"single-v2")
    with pytest.raises(DataError) as error:
        load_records("mt_bench_gpt4_single")
    assert "\n" not in str(error.value) and "changed since it was pinned" in str(error.value)
    assert ("sha256" if kept_in == "LFS" else "git blob") in str(error.value)
    assert not list((tmp_path / "cache" / "sources").glob("*"))

    hub.altered.clear()
    assert load_records("mt_bench_gpt4_single").rows == grades
    assert any(f"/paths-info/{pinned['revision']}" in request for request in hub.requests)
    assert hub.unknown == []


def write_parquet(records: list[dict]) -> bytes:
    import io

    import pyarrow
    import pyarrow.parquet

    buffer = io.BytesIO()
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(records), buffer)
    return buffer.getvalue()


def test_eval_publish_puts_results_in_the_model_card_and_the_files_behind_them_in_a_dataset(hub, tmp_path):
    """`python -m eval publish`: each result a model-index entry naming its benchmark and judge, the card's text
    kept; the same results again change nothing; a new value replaces the old."""
    import subprocess
    import sys

    from conftest import ROOT
    from huggingface_hub import HfApi, ModelCard

    from eval.publish import publish_results
    from gpt4llm.data import DataError

    api = HfApi()
    api.create_repo("user/llama-gpt4")
    api.upload_file(path_or_fileobj=b"---\nlicense: other\ntags: [gpt4llm]\n---\n# llama-gpt4\n\nTrained here.\n",
                    path_in_repo="README.md", repo_id="user/llama-gpt4")
    results = tmp_path / "results"
    results.mkdir()
    judged = {"benchmark": "vicuna80", "judge": "gpt-4o", "models": ["llama-gpt4", "gpt-4o-answers"],
              "reference": "gpt-4o-answers", "ratio": 0.9134}
    (results / "vicuna.summary.json").write_text(json.dumps([judged]))
    (results / "mt.summary.json").write_text(json.dumps([
        {"kind": "single", "model": "llama-gpt4", "judge": "gpt-4.1", "score": 6.1875},
        {"kind": "single", "model": "alpaca", "judge": "gpt-4.1", "score": 4.5}]))
    (results / "ae.json").write_text(json.dumps({"judge": "weighted_alpaca_eval:gpt-4.1", "models": [
        {"generator": "llama-gpt4", "baseline": "gpt4_1106_preview", "win_rate": 12.345,
         "length_controlled_winrate": 15.678}]}))
    (results / "rouge.json").write_text(json.dumps({"llama-gpt4": {"overall": 0.41234, "count": 9}}))
    (results / "reviews.jsonl").write_text('{"review_id": "r1", "text": "8 6"}\n')

    def publish(*extra):
        command = [sys.executable, "-m", "eval", "publish", "user/llama-gpt4", "--model", "llama-gpt4",
                   "--judge", results / "vicuna.summary.json", "--mt-bench", results / "mt.summary.json",
                   "--alpaca-eval", results / "ae.json", "--rouge", results / "rouge.json", *extra]
        done = subprocess.run(list(map(str, command)), cwd=ROOT, env={**__import__("os").environ, **hub.env},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    evidence = ("--files-repo", "user/llama-gpt4-evaluation", "--files", results / "reviews.jsonl")
    printed = publish(*evidence).stdout
    assert "user/llama-gpt4: mt_bench: MT-bench score (1-10), judged by gpt-4.1: 6.188" in printed
    model = hub.repos["models/user/llama-gpt4"]
    card = ModelCard(model.files["README.md"].decode())
    assert card.data.license == "other" and "Trained here." in card.text
    entries = {(r.dataset_name, r.metric_type): r for r in card.data.eval_results}
    assert {k: r.metric_value for k, r in entries.items()} == {
        ("Vicuna-80", "relative_score"): 91.34, ("MT-bench", "mt_bench_score"): 6.188,
        ("AlpacaEval 2", "length_controlled_winrate"): 15.68, ("AlpacaEval 2", "win_rate"): 12.35,
        ("Unnatural Instructions (core)", "rougeL"): 0.4123}
    vicuna = entries["Vicuna-80", "relative_score"]
    assert vicuna.metric_name == "score relative to gpt-4o-answers (%), judged by gpt-4o"
    assert entries["AlpacaEval 2", "win_rate"].dataset_type == "tatsu-lab/alpaca_eval"
    assert {r.source_url for r in entries.values()} == {f"{hub.url}/datasets/user/llama-gpt4-evaluation"}
    files = hub.repos["datasets/user/llama-gpt4-evaluation"]
    assert sorted(files.files) == [".gitattributes", "README.md", "ae.json", "mt.summary.json", "reviews.jsonl",
                                   "rouge.json", "vicuna.summary.json"]
    assert files.files["reviews.jsonl"] == (results / "reviews.jsonl").read_bytes()
    commits = len(model.commits), len(files.commits)
    print("eval publish:", sorted(model.files), commits[0] - 1, "commits;", sorted(files.files), commits[1] - 1,
          "commits")

    publish(*evidence)  # the same results: no commit
    assert (len(model.commits), len(files.commits)) == commits
    (results / "vicuna.summary.json").write_text(json.dumps([judged | {"ratio": 0.95}]))
    publish(*evidence)  # a new value: one commit each, the entry replaced
    assert (len(model.commits), len(files.commits)) == (commits[0] + 1, commits[1] + 1)
    card = ModelCard(model.files["README.md"].decode())
    values = {(r.dataset_name, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert values["Vicuna-80", "relative_score"] == 95.0 and len(card.data.eval_results) == 5
    with pytest.raises(DataError, match="^no result for 'alpaca' in the result files; they evaluate"):
        publish_results("user/llama-gpt4", model="alpaca", judge=[results / "vicuna.summary.json"])
    with pytest.raises(DataError, match="^user/nothing: no such model repository"):
        publish_results("user/nothing", mt_bench=[results / "mt.summary.json"], model="alpaca")
    publish()  # without the files: the entries no longer name them as their source
    assert {r.source_url for r in ModelCard(model.files["README.md"].decode()).data.eval_results} == {None}
    assert hub.unknown == []
    no_token_in_files(hub)
