"""Models by name (``einformer.hub``): a Hugging Face cache in huggingface_hub's own layout, filled
with tiny models that transformers saves, read by name offline through ``load``, ``AutoModel``,
``AutoTokenizer``, ``from_pretrained``, ``pipeline`` and the CLI, with transformers' ``from_pretrained``
of the same name (which resolves it through the same cache) as the oracle; a revision pinned by
commit hash; the errors (offline, a revision not cached, an unsupported model_type); and the download
itself against a loopback server that answers huggingface_hub's metadata and file requests."""

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import torch
from tokenizers import BertWordPieceTokenizer
from tokenizers.implementations import ByteLevelBPETokenizer

from einformer import GPT, AutoModel, AutoTokenizer, load, pipeline, registry
from einformer.cli import main
from einformer.hub import HubError, UnsupportedModel, module_files, weight_files

transformers = pytest.importorskip("transformers")
constants = pytest.importorskip("huggingface_hub.constants")

GPT2, BERT, T5, ABSENT = "tiny-org/gpt2", "tiny-org/bert", "tiny-org/t5-like", "tiny-org/absent"
OLD, NEW = hashlib.sha1(b"old").hexdigest(), hashlib.sha1(b"new").hexdigest()  # two commits of GPT2
BERT_COMMIT = hashlib.sha1(b"bert").hexdigest()
CORPUS = ["The quick brown fox jumps over the lazy dog. Hello world, naive cafe 12345.",
          "the old teacher sees the ball number 12 . the young student reads the book ."] * 20  # fmt: skip
TEXTS = ["Hello world", "the old teacher", "  spaces   and 12345", "caf\u00e9 \u6771\u4eac"]
MASKED = "the old [MASK] sees the ball ."


# ---------------------------------------------------------------- tiny models saved by transformers
def save_gpt2(directory: Path, tokenizer_files: Path, seed: int) -> Path:
    tok = transformers.GPT2TokenizerFast(str(tokenizer_files / "vocab.json"), str(tokenizer_files / "merges.txt"))
    torch.manual_seed(seed)
    config = transformers.GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def save_bert(directory: Path, vocab: Path, seed: int = 0) -> Path:
    tok = transformers.BertTokenizerFast(str(vocab))
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    transformers.BertForMaskedLM(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("saved")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=300, special_tokens=["<|endoftext|>"])
    (root / "bpe").mkdir()
    bpe.save_model(str(root / "bpe"))
    wordpiece = BertWordPieceTokenizer()
    wordpiece.train_from_iterator(CORPUS, vocab_size=120)
    (root / "wordpiece").mkdir()
    wordpiece.save_model(str(root / "wordpiece"))
    t5 = root / "t5"
    t5.mkdir()
    (t5 / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 32}))
    (t5 / "model.safetensors").write_bytes(b"never read")
    return {
        "gpt2": save_gpt2(root / "gpt2", root / "bpe", seed=0),
        "gpt2-old": save_gpt2(root / "gpt2-old", root / "bpe", seed=1),
        "bert": save_bert(root / "bert", root / "wordpiece" / "vocab.txt"),
        "t5": t5,
        "bpe": root / "bpe",
    }


# ---------------------------------------------------------------- a cache in huggingface_hub's layout
def put_in_cache(hub: Path, repo_id: str, source: Path, commit: str, refs: tuple[str, ...] = ("main",)) -> Path:
    """``source``'s files as huggingface_hub stores a snapshot: blobs/<hash>, snapshots/<commit>/<file>
    linked to its blob, refs/<branch> holding the commit."""
    storage = hub / ("models--" + repo_id.replace("/", "--"))
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        data = file.read_bytes()
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = storage / "snapshots" / commit / file.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (storage / "refs").mkdir(parents=True, exist_ok=True)
        (storage / "refs" / ref).write_text(commit)
    return storage / "snapshots" / commit


@pytest.fixture(scope="module")
def hf_home(saved, tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("hf_home")
    put_in_cache(home / "hub", GPT2, saved["gpt2-old"], OLD, refs=())  # an older commit, reached by its hash
    put_in_cache(home / "hub", GPT2, saved["gpt2"], NEW)
    put_in_cache(home / "hub", BERT, saved["bert"], BERT_COMMIT)
    put_in_cache(home / "hub", T5, saved["t5"], hashlib.sha1(b"t5").hexdigest())
    return home


def use_hub(monkeypatch, home: Path, *, offline: bool, endpoint: str | None = None) -> None:
    """The environment a user sets, and huggingface_hub's constants, which it reads once at import:
    what this process would have read had the variables been set before it started."""
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    if endpoint is not None:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        )


@pytest.fixture
def offline(monkeypatch, hf_home) -> Path:
    use_hub(monkeypatch, hf_home, offline=True)
    return hf_home


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------- by name, offline, against transformers
def test_a_name_loads_from_the_cache_as_transformers_loads_it(offline):
    loaded = load(GPT2)
    assert loaded.path == offline / "hub" / "models--tiny-org--gpt2" / "snapshots" / NEW
    theirs = transformers.AutoModelForCausalLM.from_pretrained(GPT2).eval()
    their_tokenizer = transformers.AutoTokenizer.from_pretrained(GPT2)
    for text in TEXTS:
        assert loaded.tokenizer.encode(text) == their_tokenizer(text)["input_ids"], text
    ids = torch.tensor([their_tokenizer(TEXTS[0] + " " + TEXTS[1])["input_ids"]])
    with torch.no_grad():
        expected = theirs(ids).logits
        torch.testing.assert_close(loaded.model(ids).logits, expected, atol=1e-5, rtol=1e-5)
        for model in (AutoModel.from_pretrained(GPT2), GPT.from_pretrained(GPT2)):  # every entry takes the name
            torch.testing.assert_close(model(ids).logits, expected, atol=1e-5, rtol=1e-5)
    assert AutoTokenizer.from_pretrained(GPT2).encode(TEXTS[2]) == their_tokenizer(TEXTS[2])["input_ids"]


def test_pipeline_by_name_equals_transformers_pipeline_by_name(offline):
    ours = pipeline("fill-mask", model=BERT)(MASKED, top_k=5)
    theirs = transformers.pipeline("fill-mask", model=BERT)(MASKED, top_k=5)
    assert [p["token_str"] for p in ours] == [p["token_str"] for p in theirs]
    assert [p["score"] for p in ours] == pytest.approx([p["score"] for p in theirs], abs=1e-4)


def test_the_cli_takes_a_name(offline, capsys):
    tokenizer = transformers.AutoTokenizer.from_pretrained(GPT2)
    model = transformers.AutoModelForCausalLM.from_pretrained(GPT2).eval()
    ids = torch.tensor([tokenizer("Hello")["input_ids"]])
    new = model.generate(ids, max_new_tokens=6, do_sample=False)[0, ids.shape[1] :].tolist()
    new = new[: new.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in new else new
    code, out, _ = _cli(capsys, "generate", GPT2, "--prompt", "Hello", "--max-new-tokens", 6, "--greedy")
    assert code == 0 and out == "Hello" + tokenizer.decode(new) + "\n"

    theirs = transformers.pipeline("fill-mask", model=BERT)(MASKED, top_k=3)
    code, out, _ = _cli(capsys, "fill-mask", BERT, MASKED, "--top-k", 3)
    predictions = json.loads(out)["predictions"]
    assert code == 0 and [p["token_str"] for p in predictions] == [p["token_str"] for p in theirs]
    assert [p["score"] for p in predictions] == pytest.approx([p["score"] for p in theirs], abs=1e-4)


def test_a_fresh_process_reads_the_cache_from_the_environment(hf_home):
    """No constant patched: HF_HOME and HF_HUB_OFFLINE set before the process starts, as a user does."""
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    run = subprocess.run([sys.executable, "-m", "einformer", "fill-mask", BERT, MASKED, "--top-k", "3"],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    ours = json.loads(run.stdout)["predictions"]
    snapshot = hf_home / "hub" / "models--tiny-org--bert" / "snapshots" / BERT_COMMIT
    expected = transformers.pipeline("fill-mask", model=str(snapshot))(MASKED, top_k=3)
    assert [p["token_str"] for p in ours] == [p["token_str"] for p in expected]
    assert [p["score"] for p in ours] == pytest.approx([p["score"] for p in expected], abs=1e-4)


def test_a_revision_pinned_by_commit_hash(offline, capsys):
    ids = torch.tensor([[5, 17, 42, 7]])
    with torch.no_grad():
        old = load(GPT2, revision=OLD).model(ids).logits
        new = load(GPT2).model(ids).logits
        expected = transformers.AutoModelForCausalLM.from_pretrained(GPT2, revision=OLD).eval()(ids).logits
    torch.testing.assert_close(old, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(old, new, atol=1e-3)  # the two commits hold different weights
    assert load(GPT2, revision=OLD).path.name == OLD
    code, out, _ = _cli(capsys, "generate", GPT2, "--revision", OLD, "--prompt", "Hello", "--max-new-tokens", 3,
                        "--greedy")  # fmt: skip
    assert code == 0 and out.startswith("Hello")


def test_an_existing_path_wins_over_a_name(offline, saved, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(saved["gpt2-old"], tmp_path / GPT2)
    loaded = load(GPT2)
    assert loaded.path == Path(GPT2)
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(ids).logits, load(GPT2, revision=OLD).model(ids).logits)


# ---------------------------------------------------------------- the errors
def test_offline_a_name_not_in_the_cache_is_one_clear_error(offline, capsys):
    with pytest.raises(HubError) as error:
        load(ABSENT)
    message = str(error.value)
    assert f"{ABSENT} is neither a directory nor in the Hugging Face cache {offline / 'hub'}" in message
    assert "downloads are off (HF_HUB_OFFLINE=1)" in message
    assert f"`einformer download {ABSENT}`" in message and "HF_ENDPOINT" in message and "directory" in message
    code, _, err = _cli(capsys, "generate", ABSENT, "--prompt", "x")
    assert code == 2 and err == f"einformer generate: error: {message}\n"  # one message, no traceback
    with pytest.raises(HubError, match=r"downloads are off \(local_files_only=True \(--local-files-only\)\)"):
        pipeline("fill-mask", model=ABSENT, local_files_only=True)


def test_a_revision_not_in_the_cache_is_a_clear_error(offline):
    with pytest.raises(HubError) as error:
        load(GPT2, revision="v2.0")
    message = str(error.value)
    assert f"{GPT2}: revision 'v2.0' is not in the Hugging Face cache" in message
    assert f"(it holds main -> {NEW[:12]}, commit {OLD[:12]})" in message  # what it holds instead
    assert f"`einformer download {GPT2} --revision v2.0`" in message


def test_an_unsupported_model_type_lists_the_supported_ones_in_hugging_face_s_names(offline):
    supported = sorted({t for family in registry.families() for t in family.hf_model_types})
    assert {"gpt2", "bert"} <= set(supported)
    with pytest.raises(UnsupportedModel, match="model_type 't5', which einformer does not read") as error:
        load(T5)
    assert str(error.value).endswith("it reads these Hugging Face model types: " + ", ".join(supported))


def test_what_is_fetched_for_the_weights_and_the_modules(tmp_path):
    assert weight_files({"model.safetensors", "pytorch_model.bin", "tf_model.h5"}, tmp_path) == ["model.safetensors"]
    assert weight_files({"pytorch_model.bin", "flax_model.msgpack"}, tmp_path) == ["pytorch_model.bin"]
    assert weight_files({"onnx/model.onnx"}, tmp_path) == []
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-00002-of-00002.safetensors", "b": "model-00001-of-00002.safetensors"}})
    )
    listing = {"model.safetensors.index.json", "model-00001-of-00002.safetensors", "pytorch_model.bin"}
    assert weight_files(listing, tmp_path) == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]))  # fmt: skip
    listing = {"config.json", "1_Pooling/config.json", "2_Dense/config.json", "2_Dense/model.safetensors"}
    assert module_files(listing, tmp_path) == ["1_Pooling/config.json"]


# ---------------------------------------------------------------- the download, against a loopback hub
class FakeHub(http.server.ThreadingHTTPServer):
    """The Hub's answers huggingface_hub asks for: a revision's commit (/api/models/REPO/revision/REV),
    its file list (/api/models/REPO/tree/REV), and each file (HEAD and GET /REPO/resolve/REV/FILE with
    X-Repo-Commit, ETag and Content-Length); unknown repositories and revisions answer 404 with the
    Hub's X-Error-Code. ``requests`` records (method, path, Authorization header)."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos: dict[str, tuple[str, dict[str, bytes]]] = {}  # repo -> (commit, files)
        self.requests: list[tuple[str, str, str | None]] = []

    def add(self, repo_id: str, source: Path, extra: dict[str, bytes] | None = None) -> str:
        files = {p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*") if p.is_file()}
        files.update(extra or {})
        commit = hashlib.sha1(repo_id.encode()).hexdigest()
        self.repos[repo_id] = (commit, files)
        return commit

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fetched(self, repo_id: str) -> set[str]:
        prefix = f"/{repo_id}/resolve/"
        return {p[len(prefix) :].split("/", 1)[1] for m, p, _ in self.requests if m == "GET" and p.startswith(prefix)}


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        hub: FakeHub = self.server
        path = unquote(urlsplit(self.path).path)
        hub.requests.append((self.command, path, self.headers.get("Authorization")))
        if path.startswith("/api/models/"):
            repo_id, kind, rest = _split(path[len("/api/models/") :], ("/revision/", "/tree/"))
            found = self._revision(hub, repo_id, rest.split("/")[0])
            if found is None:
                return
            commit, files = found
            if kind == "/revision/":
                siblings = [{"rfilename": name} for name in sorted(files)]
                return self._json({"id": repo_id, "modelId": repo_id, "sha": commit, "siblings": siblings}, body)
            tree = [{"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                    for name, data in sorted(files.items())]  # fmt: skip
            return self._json(tree, body)
        repo_id, _, rest = _split(path[1:], ("/resolve/",))
        revision, _, name = rest.partition("/")
        found = self._revision(hub, repo_id, revision)
        if found is None:
            return
        commit, files = found
        if name not in files:
            return self._error(404, "EntryNotFound", body)
        data = files[name]
        self.send_response(200)
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _revision(self, hub: FakeHub, repo_id: str, revision: str):
        if repo_id not in hub.repos:
            return self._error(404, "RepoNotFound", True)
        commit, files = hub.repos[repo_id]
        if revision not in ("main", commit):
            return self._error(404, "RevisionNotFound", True)
        return commit, files

    def _json(self, value, body: bool) -> None:
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _error(self, status: int, code: str, body: bool) -> None:
        data = json.dumps({"error": code}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


def _split(text: str, markers: tuple[str, ...]) -> tuple[str, str, str]:
    for marker in markers:
        if marker in text:
            head, tail = text.split(marker, 1)
            return head, marker, tail
    return text, "", ""


POOLING = {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}
MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
]
UNNEEDED = {"README.md": b"# a model card", "pytorch_model.bin": b"not a pickle", "onnx/model.onnx": b"onnx",
            "flax_model.msgpack": b"flax", ".gitattributes": b"*.bin filter=lfs"}  # fmt: skip


@pytest.fixture
def fake_hub(saved, tmp_path_factory):
    hub = FakeHub()
    sentence = {"modules.json": json.dumps(MODULES).encode(), "1_Pooling/config.json": json.dumps(POOLING).encode()}
    hub.add(BERT, saved["bert"], {**UNNEEDED, **sentence})
    sharded = tmp_path_factory.mktemp("sharded")
    transformers.AutoModelForCausalLM.from_pretrained(saved["gpt2"]).save_pretrained(sharded, max_shard_size="40KB")
    shutil.copy(saved["gpt2"] / "tokenizer.json", sharded)
    hub.add(GPT2, sharded, UNNEEDED)
    hub.add(T5, saved["t5"])
    thread = threading.Thread(target=hub.serve_forever, daemon=True)
    thread.start()
    yield hub
    hub.shutdown()
    hub.server_close()


def test_download_fetches_only_what_the_model_needs_then_loads_offline(fake_hub, saved, tmp_path, monkeypatch, capsys):
    use_hub(monkeypatch, tmp_path, offline=False, endpoint=fake_hub.url)
    code, out, _ = _cli(capsys, "download", BERT)
    snapshot = tmp_path / "hub" / "models--tiny-org--bert" / "snapshots" / fake_hub.repos[BERT][0]
    expected = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json",
                "1_Pooling/config.json"}  # fmt: skip
    assert code == 0 and out.startswith(f"{BERT} at commit {snapshot.name}: {len(expected)} files in {snapshot}")
    assert fake_hub.fetched(BERT) == expected  # no README, .bin beside safetensors, onnx/, flax
    assert {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()} == expected
    for name in expected & {p.name for p in saved["bert"].iterdir()}:
        assert (snapshot / name).read_bytes() == (saved["bert"] / name).read_bytes(), name
    assert (tmp_path / "hub" / "models--tiny-org--bert" / "refs" / "main").read_text() == snapshot.name

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what was fetched is all the model needs
    fake_hub.requests.clear()
    embedded = pipeline("sentence-embeddings", BERT)(TEXTS)
    assert fake_hub.requests == []
    reference = pipeline("sentence-embeddings", snapshot)(TEXTS)  # the same directory, by path
    torch.testing.assert_close(embedded, reference, atol=0, rtol=0)
    assert torch.allclose(embedded.norm(dim=-1), torch.ones(len(TEXTS)))  # modules.json's Normalize was read


def test_sharded_weights_are_the_shards_the_index_names(fake_hub, saved, tmp_path, monkeypatch):
    use_hub(monkeypatch, tmp_path, offline=False, endpoint=fake_hub.url)
    _, files = fake_hub.repos[GPT2]
    shards = {n for n in files if n.startswith("model-") and n.endswith(".safetensors")}
    assert len(shards) >= 2
    loaded = load(GPT2)
    fetched = fake_hub.fetched(GPT2)
    small = {"config.json", "generation_config.json", "tokenizer.json", "model.safetensors.index.json"}
    assert fetched == small | shards  # not model.safetensors' neighbours: the .bin, onnx/, flax, README
    ids = torch.tensor([[5, 17, 42, 7]])
    with torch.no_grad():
        expected = transformers.AutoModelForCausalLM.from_pretrained(saved["gpt2"]).eval()(ids).logits
        torch.testing.assert_close(loaded.model(ids).logits, expected, atol=1e-5, rtol=1e-5)


def test_a_tokenizer_by_name_fetches_no_weights(fake_hub, tmp_path, monkeypatch):
    use_hub(monkeypatch, tmp_path, offline=False, endpoint=fake_hub.url)
    ours = AutoTokenizer.from_pretrained(BERT)
    assert fake_hub.fetched(BERT) == {"config.json", "tokenizer.json", "tokenizer_config.json", "modules.json"}
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    theirs = transformers.AutoTokenizer.from_pretrained(BERT)  # from the same cache
    assert [ours.encode(t) for t in TEXTS] == [theirs(t)["input_ids"] for t in TEXTS]
    with pytest.raises(HubError) as error:
        load(BERT)  # offline, without the weights: said so, not a loader's error about a directory
    snapshot = tmp_path / "hub" / "models--tiny-org--bert" / "snapshots" / fake_hub.repos[BERT][0]
    assert str(error.value).startswith(
        f"{BERT}: the cached copy {snapshot} lacks model.safetensors, 1_Pooling/config.json, and downloads are off "
        f"(HF_HUB_OFFLINE=1); go online once (unset HF_HUB_OFFLINE, or run `einformer download {BERT} --revision "
        f"{snapshot.name}`)"
    )


def test_online_errors_and_the_token(fake_hub, tmp_path, monkeypatch):
    use_hub(monkeypatch, tmp_path, offline=False, endpoint=fake_hub.url)
    with pytest.raises(UnsupportedModel, match="model_type 't5'"):
        load(T5)
    assert fake_hub.fetched(T5) == {"config.json"}  # refused before its weights came down
    with pytest.raises(HubError, match=f"{ABSENT}: no such model on {fake_hub.url} and no such directory here"):
        load(ABSENT)
    with pytest.raises(HubError, match=f"{BERT} has no revision 'v9' on {fake_hub.url}"):
        load(BERT, revision="v9")
    fake_hub.requests.clear()
    load(BERT, token="hf_passed")
    assert {auth for _, _, auth in fake_hub.requests} == {"Bearer hf_passed"}
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    fake_hub.requests.clear()
    load(BERT)
    assert {auth for _, _, auth in fake_hub.requests} == {"Bearer hf_from_env"}


def test_a_fresh_process_downloads_from_hf_endpoint(fake_hub, tmp_path):
    """HF_ENDPOINT (a mirror) and HF_HOME from the environment alone, read at the process's start."""
    env = {**os.environ, "HF_HOME": str(tmp_path), "HF_ENDPOINT": fake_hub.url, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    for name in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN"):
        env.pop(name, None)
    run = subprocess.run([sys.executable, "-m", "einformer", "download", BERT], capture_output=True, text=True,
                         env=env, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    snapshot = tmp_path / "hub" / "models--tiny-org--bert" / "snapshots" / fake_hub.repos[BERT][0]
    assert (snapshot / "model.safetensors").is_file() and str(snapshot) in run.stdout
