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


def test_a_registered_hub_source_is_pulled_through_the_endpoint_and_a_changed_file_is_named(hub, tmp_path,
                                                                                              monkeypatch):
    """The Unnatural Instructions core Parquet, at its pinned repository, revision and path, served by the stand-in
    (HF_ENDPOINT is how users reach a mirror): fetched and verified; the same path with other bytes is a one-line
    error naming the file and both checksums, and nothing is cached."""
    import hashlib
    import io

    import pyarrow
    import pyarrow.parquet
    from huggingface_hub import HfApi

    from gpt4llm.data import DataError, load_records
    from gpt4llm.sources import HUB_FILE, SOURCES

    def parquet(records: list[dict]) -> bytes:
        buffer = io.BytesIO()
        pyarrow.parquet.write_table(pyarrow.Table.from_pylist(records), buffer)
        return buffer.getvalue()

    source = SOURCES["unnatural_core"]
    pinned = HUB_FILE.fullmatch(source.url)
    core = [{"instruction": "Add one.", "instances": [{"input": "1", "output": "2"}]},
            {"instruction": "Double.", "instances": [{"input": "2", "output": "4"}, {"input": "3", "output": "6"}]}]
    served = parquet(core)
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

    serve(parquet(core[:1]))  # the file changed upstream
    with pytest.raises(DataError) as error:
        load_records("release:unnatural_core")
    message = str(error.value)
    assert "\n" not in message and pinned["path"] in message
    assert hashlib.sha256(parquet(core[:1])).hexdigest() in message and hashlib.sha256(served).hexdigest() in message
    assert not (tmp_path / "cache" / "sources").exists() or not list((tmp_path / "cache" / "sources").iterdir())

    serve(served)
    assert [row["instruction"] for row in load_records("release:unnatural_core").rows] == ["Add one.", "Double."]
    assert any(f"/resolve/{pinned['revision']}/" in request for request in hub.requests)
    assert hub.unknown == []
