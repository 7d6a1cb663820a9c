"""Publishing to the Hub, offline: the real huggingface_hub and datasets clients against tests/fake_hub.py."""

import json
from collections import Counter

import pytest

from conftest import HUB_TOKEN as TOKEN
from fake_hub import FakeHub

ALPACA = [
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well, sleep, move."},
    {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
    {"instruction": "Add the numbers.", "input": "2, 3", "output": "5"},
]


def load(repo_id: str, tmp_path, name: str = "load"):
    from datasets import load_dataset

    return load_dataset(repo_id, split="train", cache_dir=str(tmp_path / name))


def no_token_in_files(hub: FakeHub) -> None:
    """The token reached the Hub only as a request header, never inside an uploaded file (any commit, any repo)."""
    assert hub.authorizations == {f"Bearer {TOKEN}"}
    for key, repo in hub.repos.items():
        for commit in repo.commits:
            for path, data in commit["files"].items():
                assert TOKEN.encode() not in data, f"{key}@{commit['oid']}:{path}"
    for data in hub.blobs.values():
        assert TOKEN.encode() not in data


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


def test_data_gen_push_publishes_the_dataset_with_its_card(hub, tmp_path):
    from data_gen.runner import dataset_card, push_dataset
    from gpt4llm.files import write_json_atomic
    from gpt4llm.teacher.options import TeacherConfig
    from gpt4llm.teacher.runlog import Summary
    from huggingface_hub import DatasetCard

    output = tmp_path / "answers.json"
    write_json_atomic(output, ALPACA)  # what the runner writes, then publishes
    dataset = json.loads(output.read_text())
    card = dataset_card("answer", "user/alpaca-gpt4", TeacherConfig(model="gpt-4o"), {"temperature": 0.7},
                        "seeds.jsonl", None, dataset, [("gpt-4o", Summary(3, 3, 0, 0, Counter()))])
    push_dataset("user/alpaca-gpt4", dataset, card)

    repo = hub.repos["datasets/user/alpaca-gpt4"]
    assert load("user/alpaca-gpt4", tmp_path).to_list() == dataset
    readme = repo.files["README.md"].decode()  # the card, its YAML header as huggingface_hub writes it back
    assert card.split("---\n", 2)[2] in readme and "- records: 3" in readme
    assert DatasetCard(readme).data.license == "cc-by-nc-4.0"
    first = repo.commits[1:]  # after the Hub's initial commit: Dataset.push_to_hub's, then the card's
    assert 1 <= len(first) <= 2, [c["title"] for c in first]
    data_files = {p: d for p, d in repo.files.items() if p.startswith("data/")}
    assert list(data_files) == ["data/train-00000-of-00001.parquet"] and repo.lfs == set(data_files)

    push_dataset("user/alpaca-gpt4", dataset, card)  # the same data again
    again = repo.commits[1 + len(first):]
    changes = [changed(repo.commits[repo.commits.index(c) - 1], c) for c in again]
    # What happens today: two more commits that change README.md only (datasets merges its dataset_info and
    # configs into the card, then the card is pushed again without them); shown if an assertion fails.
    print("second push:", list(zip([c["title"] for c in again], changes)))
    assert not [p for paths in changes for p in paths if p.startswith("data/")], changes  # no data re-uploaded
    assert {p: d for p, d in repo.files.items() if p.startswith("data/")} == data_files
    assert repo.files["README.md"].decode() == readme
    assert load("user/alpaca-gpt4", tmp_path, "load-again").to_list() == dataset
    assert hub.unknown == []
    no_token_in_files(hub)
