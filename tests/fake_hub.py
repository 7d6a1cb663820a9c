"""A local Hugging Face Hub stand-in, so that publishing paths run offline through the real huggingface_hub and
datasets clients (point HF_ENDPOINT, and the module constants read at import time, to `hub.url`; see the `hub`
fixture in tests/test_hub_push.py).

It speaks the part of the Hub's HTTP API that huggingface_hub 2.4 calls to create a repository, commit to it (the
preupload call, the commit's ndjson, and LFS uploads through the batch API and the upload URL it hands out), read
its info, tree and paths-info, and download its files. Xet is never advertised: the LFS batch answers with the
"basic" transfer and downloads carry no X-Xet-* headers or xet-auth links. (Uploads go through Xet whenever hf_xet
is installed, whatever a server says, so tests must also set HF_HUB_DISABLE_XET.) Only the `main` branch exists;
any commit id of a repository is a revision too. Write requests need an `Authorization: Bearer ...` header.

State, per repository `{type}s/{namespace}/{name}` in `hub.repos`: `files` (path -> bytes, at the head), `lfs`
(the paths stored through LFS) and `commits` (oldest first; each with `oid`, `title`, `files`, `lfs`), the first
being the "initial commit" of `.gitattributes` that the Hub makes when it creates a repository. A request for a
route (or an option of a route) not served here is recorded in `hub.unknown` ("METHOD /raw/path") and answered 404.
"""

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import unquote

from aiohttp import web
from loopback import LoopbackServer

GITATTRIBUTES = "".join(f"*.{ext} filter=lfs diff=lfs merge=lfs -text\n" for ext in (
    "7z arrow bin bz2 ckpt gz h5 joblib lz4 msgpack npy npz onnx ot parquet pb pickle pkl pt pth safetensors tar "
    "tflite wasm xz zip zst").split())
LFS_THRESHOLD = 10 * 2**20  # the Hub stores larger files through LFS whatever their name
REPO = r"(?P<type>model|dataset|space)s/(?P<ns>[^/]+)/(?P<name>[^/]+)"  # in /api/ paths
GIT_REPO = r"(?:(?P<type>dataset|space)s/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)"  # in git-side paths; no prefix: a model


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256(data)}\nsize {len(data)}\n".encode()


@dataclass
class Repo:
    type: str
    id: str
    private: bool = False
    commits: list[dict] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)  # other names of commits: a test pins a source's revision

    @property
    def files(self) -> dict[str, bytes]:
        return self.commits[-1]["files"]

    @property
    def lfs(self) -> set[str]:
        return self.commits[-1]["lfs"]

    @property
    def sha(self) -> str:
        return self.commits[-1]["oid"]

    @property
    def url_path(self) -> str:
        return self.id if self.type == "model" else f"{self.type}s/{self.id}"

    def commit(self, title: str, files: dict[str, bytes], lfs: set[str]) -> dict:
        parent = self.commits[-1]["oid"] if self.commits else ""
        tree = sorted((path, git_oid(data)) for path, data in files.items())
        oid = hashlib.sha1(f"{parent}\n{title}\n{tree}\n{len(self.commits)}".encode()).hexdigest()
        self.commits.append({"oid": oid, "title": title, "files": files, "lfs": lfs & set(files), "date": time.time()})
        return self.commits[-1]


class HubError(Exception):
    """An error as the Hub sends it: X-Error-Code (which huggingface_hub maps to its exceptions) and a JSON body."""

    def __init__(self, status: int, code: str | None, message: str, headers: dict | None = None):
        headers = {**({"X-Error-Code": code} if code else {}), "X-Error-Message": message, **(headers or {})}
        self.response = web.json_response({"error": message}, status=status, headers=headers)


class FakeHub(LoopbackServer):
    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, bytes] = {}  # LFS storage: sha256 -> content, uploaded and maybe not yet committed
        self.unknown: list[str] = []
        self.requests: list[str] = []  # "METHOD /raw/path" of every request, in order
        self.authorizations: set[str] = set()  # the Authorization headers that write requests carried
        # "{repo url path}/{file path}" -> what a download of that file gets instead of what the commit holds (a
        # mirror or proxy that changed it on the way); the Hub's records of the file stay as they are
        self.altered: dict[str, bytes] = {}
        super().__init__()
        self._routes = [(methods.split("|"), re.compile(pattern), handler) for methods, pattern, handler in [
            ("POST", r"/api/repos/create", self._create_repo),
            ("POST", r"/api/validate-yaml", self._validate_yaml),
            ("GET", rf"/api/{REPO}(?:/revision/(?P<rev>[^/]+))?", self._repo_info),
            ("GET", rf"/api/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", self._tree),
            ("POST", rf"/api/{REPO}/paths-info/(?P<rev>[^/]+)", self._paths_info),
            ("POST", rf"/api/{REPO}/preupload/(?P<rev>[^/]+)", self._preupload),
            ("POST", rf"/api/{REPO}/commit/(?P<rev>[^/]+)", self._commit),
            ("POST", rf"/{GIT_REPO}\.git/info/lfs/objects/batch", self._lfs_batch),
            ("POST", rf"/{GIT_REPO}\.git/info/lfs/objects/verify", self._lfs_verify),
            ("PUT", r"/lfs-storage/(?P<oid>[0-9a-f]{64})", self._lfs_store),
            ("HEAD|GET", rf"/{GIT_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", self._resolve),
        ]]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        """Route on the raw (still percent-encoded) path, as the clients quote revisions and paths in it."""
        raw = request.rel_url.raw_path
        self.requests.append(f"{request.method} {raw}")
        try:
            for methods, pattern, handler in self._routes:
                if request.method in methods and (match := pattern.fullmatch(raw)):
                    args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    if request.method in ("POST", "PUT") and not raw.startswith(("/lfs-storage/", "/api/validate")):
                        if not request.headers.get("Authorization", "").startswith("Bearer "):
                            raise HubError(401, None, "Invalid credentials in Authorization header")
                        self.authorizations.add(request.headers["Authorization"])
                    if "ns" in args:
                        key = f"{args.pop('type', 'model')}s/{args.pop('ns')}/{args.pop('name')}"
                        if key not in self.repos:
                            raise HubError(404, "RepoNotFound", "Repository not found")
                        args["repo"] = self.repos[key]
                    return await handler(request, **args)
            self._unsupported(request)
        except HubError as error:
            return error.response

    def _unsupported(self, request: web.Request):
        """A route, or an option of a served route, that the stand-in does not know (pull requests, branches...)."""
        self.unknown.append(f"{request.method} {request.rel_url.raw_path_qs}")
        raise HubError(404, None, f"The stand-in does not serve {request.method} {request.rel_url}")

    def _revision(self, repo: Repo, rev: str) -> dict:
        """The commit a revision names: `main` (the head), any commit id of the repository or one of its refs."""
        rev = repo.refs.get(rev, rev)
        commit = repo.commits[-1] if rev == "main" else next((c for c in repo.commits if c["oid"] == rev), None)
        if commit is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return commit

    def _entry(self, commit: dict, path: str) -> dict | None:
        """A tree / paths-info entry in the Hub's shape: a file (with `lfs` for LFS files) or a directory."""
        files = commit["files"]
        if path in files:
            data = files[path]
            entry = {"type": "file", "oid": git_oid(data), "size": len(data), "path": path}
            if path in commit["lfs"]:
                pointer = lfs_pointer(data)
                entry |= {"oid": git_oid(pointer),
                          "lfs": {"oid": sha256(data), "size": len(data), "pointerSize": len(pointer)}}
            return entry
        if any(name.startswith(path + "/") for name in files):
            return {"type": "directory", "oid": hashlib.sha1(f"{commit['oid']}:{path}".encode()).hexdigest(),
                    "path": path}
        return None

    # ---------------------------------------------------------------- repositories

    async def _create_repo(self, request: web.Request) -> web.Response:
        """POST /api/repos/create {name, organization, type, visibility|private}: a repo with its initial commit
        (.gitattributes); 409 if it exists (create_repo's exist_ok takes that). Answers {url, name, id}."""
        body = await request.json()
        type_, repo_id = body.get("type") or "model", f"{body.get('organization') or 'user'}/{body['name']}"
        private = body.get("visibility", "public") != "public" or bool(body.get("private"))
        repo = Repo(type_, repo_id, private)
        url = f"{self.url}/{repo.url_path}"
        if f"{type_}s/{repo_id}" in self.repos:
            return web.json_response({"error": "You already created this repo", "url": url}, status=409)
        self.repos[f"{type_}s/{repo_id}"] = repo
        repo.commit("initial commit", {".gitattributes": GITATTRIBUTES.encode()}, set())
        return web.json_response({"url": url, "name": repo_id, "id": repo_id})

    async def _validate_yaml(self, request: web.Request) -> web.Response:
        """POST /api/validate-yaml {content, repoType}: a card's metadata is accepted as it is."""
        await request.read()
        return web.json_response({"errors": [], "warnings": []})

    async def _repo_info(self, request: web.Request, repo: Repo, rev: str = "main") -> web.Response:
        """GET /api/{type}s/{id}[/revision/{rev}]: id, sha (the revision's commit), private and `siblings` (with
        size, blobId and lfs when asked for blobs, as `files_metadata=True` does)."""
        commit = self._revision(repo, rev)
        siblings = []
        for path in sorted(commit["files"]):
            entry, sibling = self._entry(commit, path), {"rfilename": path}
            if request.query.get("blobs", "").lower() == "true":
                sibling |= {"size": entry["size"], "blobId": entry["oid"]}
                if "lfs" in entry:
                    sibling["lfs"] = {"sha256": entry["lfs"]["oid"], "size": entry["size"],
                                      "pointerSize": entry["lfs"]["pointerSize"]}
            siblings.append(sibling)
        modified = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit["date"]))
        return web.json_response({
            "_id": repo.id, "id": repo.id, **({"modelId": repo.id} if repo.type == "model" else {}),
            "author": repo.id.split("/")[0], "sha": commit["oid"], "private": repo.private, "gated": False,
            "disabled": False, "lastModified": modified, "createdAt": modified, "tags": [], "downloads": 0,
            "likes": 0, "siblings": siblings})

    async def _tree(self, request: web.Request, repo: Repo, rev: str, path: str = "") -> web.Response:
        """GET /api/{type}s/{id}/tree/{rev}[/{path}]?recursive=: the folder's entries (all below it if recursive),
        in one page (no Link header); 404 EntryNotFound if the folder does not exist."""
        commit, path = self._revision(repo, rev), path.strip("/")
        if path and (self._entry(commit, path) or {}).get("type") != "directory":
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {rev}", {"X-Repo-Commit": commit["oid"]})
        recursive = request.query.get("recursive", "").lower() == "true"
        prefix, names = f"{path}/" if path else "", set()
        for name in commit["files"]:
            if name.startswith(prefix):
                parts = name[len(prefix):].split("/")
                names.update(prefix + "/".join(parts[:depth]) for depth in
                             (range(1, len(parts) + 1) if recursive else [1]))
        return web.json_response([self._entry(commit, name) for name in sorted(names)])

    async def _paths_info(self, request: web.Request, repo: Repo, rev: str) -> web.Response:
        """POST /api/{type}s/{id}/paths-info/{rev} (form: paths, expand): the entries of the paths that exist."""
        commit = self._revision(repo, rev)
        form = await request.post()
        entries = (self._entry(commit, path.strip("/")) for path in form.getall("paths", []))
        return web.json_response([entry for entry in entries if entry])

    # ---------------------------------------------------------------- commits and LFS uploads

    async def _preupload(self, request: web.Request, repo: Repo, rev: str) -> web.Response:
        """POST /api/{type}s/{id}/preupload/{rev} {files: [{path, sample, size}]}: each file's uploadMode ("lfs" for
        the .gitattributes patterns, binary samples and large files; else "regular"), shouldIgnore, and the oid of
        the file already at that path (sha256 for LFS, git blob id otherwise), which lets clients skip unchanged
        files."""
        if request.query.get("create_pr") or rev != "main":
            self._unsupported(request)
        body = await request.json()
        patterns = [line.split()[0] for line in repo.files.get(".gitattributes", b"").decode().splitlines()
                    if "filter=lfs" in line]
        answers = []
        for file in body["files"]:
            path, sample = file["path"], base64.b64decode(file["sample"])
            lfs = (file["size"] >= LFS_THRESHOLD or b"\0" in sample
                   or any(PurePosixPath(path).match(pattern) for pattern in patterns))
            answer = {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            if path in repo.files:
                old = repo.files[path]
                answer["oid"] = sha256(old) if path in repo.lfs else git_oid(old)
            answers.append(answer)
        return web.json_response({"files": answers, "commitOid": repo.sha})

    async def _commit(self, request: web.Request, repo: Repo, rev: str) -> web.Response:
        """POST /api/{type}s/{id}/commit/{rev} (ndjson: header, file, lfsFile, deletedFile, deletedFolder): a new
        commit on main; 412 if header.parentCommit is not the head, 400 for an LFS object never uploaded."""
        if request.query.get("create_pr") or request.query.get("hot_reload") or rev != "main":
            self._unsupported(request)
        lines = [json.loads(line) for line in (await request.read()).splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        if header.get("parentCommit") not in (None, repo.sha):
            raise HubError(412, None, "A commit has happened since. Please refresh and try again.")
        files, lfs = dict(repo.files), set(repo.lfs)
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
                lfs.discard(value["path"])
            elif key == "lfsFile":
                if value["oid"] not in self.blobs:
                    raise HubError(400, None, f"LFS object {value['oid']} of {value['path']} was not uploaded")
                files[value["path"]] = self.blobs[value["oid"]]
                lfs.add(value["path"])
            elif key == "deletedFile":
                files.pop(value["path"])
            elif key == "deletedFolder":
                files = {p: d for p, d in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
            elif key != "header":
                self._unsupported(request)
        oid = repo.commit(header["summary"], files, lfs)["oid"]
        return web.json_response({"success": True, "commitOid": oid, "pullRequestUrl": None,
                                  "commitUrl": f"{self.url}/{repo.url_path}/commit/{oid}"})

    async def _lfs_batch(self, request: web.Request, repo: Repo) -> web.Response:
        """POST /{repo}.git/info/lfs/objects/batch (git-lfs batch API, upload): the "basic" transfer, never "xet";
        for each object not stored yet an upload action (a PUT to /lfs-storage/{oid}; no chunk_size in its header,
        so a single part) and a verify action; no actions for objects already stored."""
        body = await request.json()
        if body.get("operation") != "upload" or body.get("hash_algo", "sha256") != "sha256":
            self._unsupported(request)
        objects = []
        for obj in body["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.blobs:
                answer["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-storage/{obj['oid']}", "header": {}},
                    "verify": {"href": f"{self.url}/{repo.url_path}.git/info/lfs/objects/verify", "header": {}}}
            objects.append(answer)
        return web.json_response({"transfer": "basic", "objects": objects},
                                 content_type="application/vnd.git-lfs+json")

    async def _lfs_store(self, request: web.Request, oid: str) -> web.Response:
        """PUT /lfs-storage/{oid} (the upload URL the batch API hands out; like a presigned S3 URL, no auth): the
        content, kept if its sha256 is the oid."""
        data = await request.read()
        if sha256(data) != oid:
            raise HubError(400, None, "The content does not match its oid")
        self.blobs[oid] = data
        return web.Response(status=200, headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'})

    async def _lfs_verify(self, request: web.Request, repo: Repo) -> web.Response:
        """POST /{repo}.git/info/lfs/objects/verify {oid, size}: 200 if that object is stored with that size."""
        body = await request.json()
        if body["oid"] not in self.blobs or len(self.blobs[body["oid"]]) != body["size"]:
            raise HubError(404, None, "Object not found")
        return web.json_response({"success": True})

    # ---------------------------------------------------------------- downloads

    async def _resolve(self, request: web.Request, repo: Repo, rev: str, path: str) -> web.Response:
        """HEAD/GET /[{type}s/]{id}/resolve/{rev}/{path}: the file, with the headers hf_hub_download relies on:
        ETag (git blob id, or sha256 for LFS files, plus X-Linked-Etag / X-Linked-Size for these), X-Repo-Commit,
        Content-Length. Missing file: 404 EntryNotFound with X-Repo-Commit (so the client caches its absence)."""
        commit = self._revision(repo, rev)
        if path not in commit["files"]:
            raise HubError(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit["oid"]})
        data = commit["files"][path]
        headers = {"X-Repo-Commit": commit["oid"], "Content-Type": "application/octet-stream"}
        if path in commit["lfs"]:
            etag = f'"{sha256(data)}"'
            headers |= {"ETag": etag, "X-Linked-Etag": etag, "X-Linked-Size": str(len(data))}
        else:
            headers["ETag"] = f'"{git_oid(data)}"'
        if request.method == "HEAD":
            return web.Response(status=200, headers=headers | {"Content-Length": str(len(data))})
        return web.Response(body=self.altered.get(f"{repo.url_path}/{path}", data), headers=headers)
