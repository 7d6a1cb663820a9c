"""Where the project keeps its files, and the one way it writes them: atomically.

A file written here is, at every instant, either the old one or the whole new one: the new content goes to a
temporary file in the same folder (so the rename stays on one file system), is flushed to disk, and replaces the
old file in one rename. A run killed mid-write leaves the old file and no temporary one behind.
"""

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def cache_dir() -> Path:
    """Downloads and converted models: $GPT4LLM_CACHE, else ~/.cache/gpt4llm."""
    return Path(os.environ.get("GPT4LLM_CACHE", Path.home() / ".cache" / "gpt4llm"))


@contextmanager
def atomic_file(path, mode: str = "w") -> Iterator[IO]:
    """A file open for writing that replaces `path` when the block ends, and is removed if the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the file private to its writer
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path, text: str) -> None:
    with atomic_file(path) as file:
        file.write(text)


def write_json_atomic(path, data) -> None:
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def write_jsonl_atomic(path, rows: list) -> None:
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def write_rows(path, rows: list[dict]) -> None:
    """Records in the format the path's suffix names: .jsonl (a line each), .parquet, else JSON (a list)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        write_jsonl_atomic(path, rows)
    elif path.suffix == ".parquet":
        import pyarrow
        import pyarrow.parquet

        with atomic_file(path, "wb") as file:
            pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), file)
    else:
        write_json_atomic(path, rows)
