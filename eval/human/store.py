"""A study's judgments in one SQLite file (DIR/study.sqlite3): one row per (annotator, item), each committed
with synchronous=FULL in WAL mode before the server answers, so a judgment the page acknowledged survives a
killed server or a power cut.

Re-submitting an item is refused (Conflict), unless the submission is identical to the stored one (a browser
retrying a request whose answer it never saw): the first judgment stands, as in the paper's one-pass protocol.
The study's metadata (seed, answer files and their sha256, model ids) lives in the same file, so a study
reopens with its randomisation and refuses answer files that are not the ones it was started with.
"""

import csv
import json
import secrets
import sqlite3
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from gpt4llm.data import DataError, local_source
from gpt4llm.files import atomic_file

from .study import CRITERIA, StudyItem, derandomised, file_sha256, load_study_items

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS judgments (
    id INTEGER PRIMARY KEY,
    annotator TEXT NOT NULL,
    item_id TEXT NOT NULL,
    swapped INTEGER NOT NULL CHECK (swapped IN (0, 1)),  -- 1: Response 1 was model B's answer
    helpfulness TEXT NOT NULL CHECK (helpfulness IN ('1', '2', 'tie')),  -- as chosen on the page
    honesty TEXT NOT NULL CHECK (honesty IN ('1', '2', 'tie')),
    harmlessness TEXT NOT NULL CHECK (harmlessness IN ('1', '2', 'tie')),
    helpfulness_comment TEXT NOT NULL DEFAULT '',
    honesty_comment TEXT NOT NULL DEFAULT '',
    harmlessness_comment TEXT NOT NULL DEFAULT '',
    submitted_at TEXT NOT NULL,
    UNIQUE (annotator, item_id)
);
"""
# metadata that must be the same when a study is reopened (paths may move; contents may not)
FIXED_META = ("questions_sha256", "answers_a_sha256", "answers_b_sha256", "model_a", "model_b", "seed")
CHOICE_FIELDS = CRITERIA + tuple(f"{c}_comment" for c in CRITERIA)


class Conflict(Exception):
    """The annotator already judged this item differently."""


class Store:
    def __init__(self, study_dir: Path):
        self.path = Path(study_dir) / "study.sqlite3"

    @contextmanager
    def _connect(self):
        # one short-lived connection per operation: server threads never share one, and synchronous is a
        # per-connection setting (WAL mode, by contrast, is remembered by the file)
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            conn.execute("PRAGMA synchronous=FULL")  # fsync at every commit, not only at checkpoints
            with conn:  # commits on success, rolls back on error
                yield conn

    def exists(self) -> bool:
        return self.path.is_file()

    def open(self, meta: dict) -> dict:
        """Create the study with `meta`, or check that the existing one has the same FIXED_META; the stored
        metadata either way."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(SCHEMA)
            stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if not stored:
                stored = {key: str(value) for key, value in meta.items()}
                conn.executemany("INSERT INTO meta VALUES (?, ?)", stored.items())
        for key in FIXED_META:
            if key in meta and str(meta[key]) != stored.get(key):
                was, now = _describe(stored, key), _describe(meta, key)
                raise DataError(f"{self.path}: this study was started with {was}, not {now}; use a new --study")
        return stored

    def meta(self) -> dict:
        if not self.exists():
            raise DataError(f"{self.path}: no such study (start one with `python -m eval.human serve`)")
        with self._connect() as conn:
            return dict(conn.execute("SELECT key, value FROM meta").fetchall())

    def record(self, annotator: str, item_id: str, swapped: bool, fields: dict) -> bool:
        """Store a judgment (fields: each criterion's choice and comment); True if new, False if this exact
        judgment was already stored. Raises Conflict for a different judgment of a judged item."""
        values = [annotator, item_id, int(swapped)] + [fields.get(f, "") for f in CHOICE_FIELDS]
        columns = ", ".join(("annotator", "item_id", "swapped") + CHOICE_FIELDS)
        with self._connect() as conn:
            inserted = conn.execute(
                f"INSERT INTO judgments ({columns}, submitted_at) VALUES ({', '.join('?' * len(values))}, ?) "
                "ON CONFLICT (annotator, item_id) DO NOTHING",
                values + [datetime.now(timezone.utc).isoformat(timespec="seconds")],
            ).rowcount
            if inserted:
                return True
            stored = conn.execute(
                f"SELECT {columns} FROM judgments WHERE annotator = ? AND item_id = ?", (annotator, item_id)
            ).fetchone()
        if list(stored) != values:
            raise Conflict(f"{annotator} already judged item {item_id}")
        return False

    def judged_items(self, annotator: str) -> set[str]:
        with self._connect() as conn:
            return {row[0] for row in conn.execute("SELECT item_id FROM judgments WHERE annotator = ?", (annotator,))}

    def judgments(self) -> list[dict]:
        with self._connect() as conn:
            return [dict(row) for row in conn.execute("SELECT * FROM judgments ORDER BY id")]


def _describe(meta: dict, key: str) -> str:
    """e.g. 'answers_a a.jsonl (sha256 1f2e3d4c5b6a...)' or 'seed 5'."""
    if key.endswith("_sha256"):
        name = key.removesuffix("_sha256")
        return f"{name} {meta.get(name + '_path')} (sha256 {meta[key][:12]}...)"
    return f"{key} {meta[key]}"


def open_study(
    study_dir, questions: str, answers_a: str, answers_b: str, seed: int | None = None
) -> tuple[Store, dict, list[StudyItem]]:
    """(store, metadata, items): a new study from the files, or the existing one after checking that the files
    are the ones it was started with (and the seed, when one is given)."""
    items, model_a, model_b = load_study_items(questions, answers_a, answers_b)
    store = Store(Path(study_dir))
    meta = {"model_a": model_a, "model_b": model_b, "items": len(items)}
    for name, path in (("questions", local_source(questions)), ("answers_a", answers_a), ("answers_b", answers_b)):
        meta |= {f"{name}_path": str(path), f"{name}_sha256": file_sha256(path)}
    if seed is not None:
        meta["seed"] = seed
    if not store.exists():
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        meta = {"study_id": secrets.token_hex(4), "seed": secrets.randbelow(2**32), "created_at": created, **meta}
    return store, store.open(meta), items


def export(study: Path, output: Path) -> Path:
    """`python -m eval.human export`: every judgment of the study, each criterion's winner as a model id (or
    "tie"), to OUTPUT (.csv or .jsonl); returns it."""
    store = Store(Path(study))
    meta = store.meta()
    model = {"A": meta["model_a"], "B": meta["model_b"], "tie": "tie"}
    judgments, rows = store.judgments(), []
    for stored, plain in zip(judgments, derandomised(judgments)):
        row = {"study_id": meta["study_id"], "annotator": stored["annotator"], "item_id": stored["item_id"],
               "response_1": meta["model_b" if stored["swapped"] else "model_a"]}
        for criterion in CRITERIA:
            row |= {criterion: model[plain[criterion]], f"{criterion}_comment": stored[f"{criterion}_comment"]}
        rows.append(row | {"submitted_at": stored["submitted_at"]})
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(output) as file:
        if output.suffix == ".csv":
            writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else ["study_id"])
            writer.writeheader()
            writer.writerows(rows)
        else:
            file.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    print(f"wrote {len(rows)} judgments to {output}")
    return output
