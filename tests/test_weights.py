"""weights.py: the three sources (download + cache, local file, seeded random) and their errors.

Offline by construction: every cache lives in a tmp dir and the "download" comes from an
http.server on 127.0.0.1 that torchvision's own VGG19_Weights entry is pointed at.
State dicts stay tiny on disk: each tensor is one number expanded to the VGG19 shape
(torch.save stores the one-element storage), so the shapes are real and the file is ~10 KB.
"""

from __future__ import annotations

import http.server
import io
import math
import os
import pickle
import shlex
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from timelapse_nst.engine.weights import (
    CACHE_FILE_NAME,
    cache_dir,
    fetch_imagenet_weights,
    load_vgg19_features,
    weights_status,
)
from timelapse_nst.errors import UserError

# VGG19 ("E") written out independently of torchvision: out-channels per conv, "M" = max-pool.
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
HUB_NAME = "vgg19-dcbb9e9d.pth"


def conv_shapes() -> dict[int, tuple[int, int]]:
    """features index of each conv -> (out, in) channels."""
    shapes, index, in_channels = {}, 0, 3
    for item in VGG19_CFG:
        if item == "M":
            index += 1
            continue
        shapes[index] = (int(item), in_channels)
        in_channels = int(item)
        index += 2  # conv, then its ReLU
    return shapes


def tiny_state(prefix: str = "features.", *, offset: float = 0.0, dtype=torch.float32) -> dict:
    """A shape-exact VGG19 state dict: conv n has weight offset+n+1 and bias -(n+1) everywhere."""
    state = {}
    for n, (index, (out_c, in_c)) in enumerate(conv_shapes().items()):
        one = torch.full((1,), offset + n + 1, dtype=dtype)
        state[f"{prefix}{index}.weight"] = one.expand(out_c, in_c, 3, 3)
        state[f"{prefix}{index}.bias"] = torch.full((1,), -(n + 1.0), dtype=dtype).expand(out_c)
    return state


def full_torchvision_state(**kwargs) -> dict:
    state = tiny_state("features.", **kwargs)
    state["classifier.0.weight"] = torch.zeros(1).expand(4096, 25088)
    state["classifier.0.bias"] = torch.zeros(1).expand(4096)
    return state


def assert_tiny_values(features: nn.Sequential, *, offset: float = 0.0) -> None:
    for n, index in enumerate(conv_shapes()):
        conv = features[index]
        assert conv.weight.dtype == torch.float32
        assert torch.all(conv.weight == offset + n + 1), f"conv at {index}"
        assert torch.all(conv.bias == -(n + 1.0)), f"bias at {index}"


def assert_ready(features: nn.Sequential) -> None:
    assert isinstance(features, nn.Sequential) and len(features) == 37
    kinds = [type(m) for m in features]
    assert kinds.count(nn.Conv2d) == 16 and kinds.count(nn.ReLU) == 16
    assert kinds.count(nn.MaxPool2d) == 5
    conv_indices = [i for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]
    assert conv_indices == list(conv_shapes())
    assert not features.training
    assert all(not p.requires_grad for p in features.parameters())
    assert all(p.device.type == "cpu" for p in features.parameters())


def to_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def one_line_error(excinfo: pytest.ExceptionInfo[UserError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TIMELAPSE_NST_CACHE", str(tmp_path / "nst-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path


class FakeServer:
    """Serves fixed bytes per URL path on 127.0.0.1 and counts the requests."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """serve(bytes or None) -> FakeServer; torchvision's VGG19 URL then points at it."""
    servers: list[FakeServer] = []

    def start(body: bytes | None) -> FakeServer:
        server = FakeServer({} if body is None else {f"/{HUB_NAME}": body})
        servers.append(server)
        weights = torchvision.models.VGG19_Weights.IMAGENET1K_V1
        monkeypatch.setattr(weights.value, "url", f"{server.url}/{HUB_NAME}")
        return server

    yield start
    for server in servers:
        server.close()


def hub_file() -> Path:
    return Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / HUB_NAME


# --- cache dir -------------------------------------------------------------------------------


def test_cache_dir_prefers_own_variable_then_xdg_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "nst-cache"
    monkeypatch.setenv("TIMELAPSE_NST_CACHE", "")  # empty counts as unset
    assert cache_dir() == tmp_path / "xdg" / "timelapse-nst"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "timelapse-nst"


# --- random ----------------------------------------------------------------------------------


def test_random_is_seeded_and_ignores_the_global_rng() -> None:
    torch.manual_seed(1)
    first = load_vgg19_features("random", seed=7).state_dict()
    torch.manual_seed(2)
    global_state = torch.get_rng_state()
    second = load_vgg19_features("random", seed=7).state_dict()
    assert torch.equal(torch.get_rng_state(), global_state), "the global RNG was used"
    other = load_vgg19_features("random", seed=8).state_dict()
    assert first.keys() == second.keys() == other.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["0.weight"], other["0.weight"])
    assert not torch.equal(first["34.weight"], other["34.weight"])


def test_random_uses_kaiming_fan_out_init_and_zero_bias() -> None:
    features = load_vgg19_features("random", seed=0)
    assert_ready(features)
    for index, (out_c, in_c) in conv_shapes().items():
        conv = features[index]
        assert conv.weight.shape == (out_c, in_c, 3, 3)
        expected_std = math.sqrt(2.0 / (out_c * 9))  # fan_out, gain sqrt(2) for relu
        assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.08)
        assert abs(conv.weight.mean().item()) < 0.1 * expected_std
        assert torch.all(conv.bias == 0)
    out = features(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 512, 1, 1) and torch.isfinite(out).all()


# --- a local file ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layout",
    ["torchvision-full", "features-only", "wrapped-state_dict", "wrapped-model", "float16"],
)
def test_local_file_layouts_load(tmp_path: Path, layout: str) -> None:
    state = {
        "torchvision-full": lambda: full_torchvision_state(offset=10),
        "features-only": lambda: tiny_state("", offset=10),
        "wrapped-state_dict": lambda: {"state_dict": full_torchvision_state(offset=10), "epoch": 3},
        "wrapped-model": lambda: {"model": tiny_state("", offset=10)},
        "float16": lambda: tiny_state("features.", offset=10, dtype=torch.float16),
    }[layout]()
    path = tmp_path / "mine.pth"
    torch.save(state, path)
    features = load_vgg19_features(str(path))
    assert_ready(features)
    assert_tiny_values(features, offset=10)


def test_local_file_accepts_a_path_object_and_a_real_torchvision_state_dict(tmp_path: Path) -> None:
    # A state dict straight from torchvision's model (real layout, real keys, classifier too),
    # built on the meta device and materialised only for the features to keep it cheap.
    with torch.device("meta"):
        model = torchvision.models.vgg19(weights=None)
    state = {k: torch.full((1,), 0.5).expand(v.shape) for k, v in model.state_dict().items()}
    path = tmp_path / HUB_NAME
    torch.save(state, path)
    features = load_vgg19_features(path)
    assert all(torch.all(p == 0.5) for p in features.parameters())


def test_malicious_pickle_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {shlex.quote(str(marker))}",))

    zip_file, raw_file = tmp_path / "evil.pth", tmp_path / "evil.pkl"
    torch.save({"features.0.weight": Evil()}, zip_file)
    raw_file.write_bytes(pickle.dumps({"features.0.weight": Evil()}))
    for path in (zip_file, raw_file):
        assert b"system" in path.read_bytes()  # the payload really is in the file
        with pytest.raises(UserError) as excinfo:
            load_vgg19_features(str(path))
        message = one_line_error(excinfo)
        assert str(path) in message
        assert not marker.exists()
    with pytest.raises(UserError) as excinfo:
        load_vgg19_features(str(zip_file))
    assert "posix.system" in str(excinfo.value)


def _drop(state: dict, key: str) -> dict:
    return {k: v for k, v in state.items() if k != key}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (lambda: b"<html>captive portal</html>", "not a PyTorch weights file"),
        (lambda: b"", "not a PyTorch weights file"),
        (lambda: to_bytes(torch.zeros(3)), "holds a Tensor, not a VGG19 state dict"),
        (lambda: to_bytes({"conv.weight": torch.zeros(1)}), "missing features.0.weight"),
        (
            lambda: to_bytes(_drop(full_torchvision_state(), "features.34.weight")),
            "missing features.34.weight",
        ),
        (
            lambda: to_bytes({**tiny_state(), "features.0.weight": torch.zeros(32, 3, 3, 3)}),
            "features.0.weight has shape (32, 3, 3, 3), expected (64, 3, 3, 3)",
        ),
        (
            lambda: to_bytes({**tiny_state(), "features.1.running_mean": torch.zeros(64)}),
            "unexpected key features.1.running_mean",
        ),
        (
            lambda: to_bytes({**tiny_state(""), "2.bias": [0.0] * 64}),
            "features.2.bias is a list, not a tensor",
        ),
        (
            lambda: to_bytes({**tiny_state(""), "5.bias": torch.full((128,), math.nan)}),
            "features.5.bias contains NaN",
        ),
        (
            lambda: to_bytes({**tiny_state(""), "0.bias": torch.zeros(64, dtype=torch.int64)}),
            "features.0.bias has dtype torch.int64",
        ),
    ],
    ids=["text", "empty", "tensor", "no-features", "missing", "shape", "batchnorm", "list", "nan", "int"],
)
def test_bad_local_files_are_one_line_user_errors(tmp_path: Path, content, expected: str) -> None:
    path = tmp_path / "bad.pth"
    path.write_bytes(content())
    with pytest.raises(UserError) as excinfo:
        load_vgg19_features(str(path))
    message = one_line_error(excinfo)
    assert str(path) in message
    assert expected in message


def test_missing_path_and_directory_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "vgg19.pth"
    with pytest.raises(UserError) as excinfo:
        load_vgg19_features(str(missing))
    assert str(missing) in one_line_error(excinfo) and "not found" in str(excinfo.value)
    with pytest.raises(UserError, match="not a file"):
        load_vgg19_features(str(tmp_path))


# --- torchvision: download once, then the cache ---------------------------------------------


def test_download_keeps_features_only_caches_them_and_reuses_the_cache(serve) -> None:
    server = serve(to_bytes(full_torchvision_state(offset=20)))
    assert "not cached" in weights_status()

    features = load_vgg19_features("torchvision")
    assert_ready(features)
    assert_tiny_values(features, offset=20)
    assert server.requests == [f"/{HUB_NAME}"]

    cached = cache_dir() / CACHE_FILE_NAME
    state = torch.load(cached, weights_only=True)
    assert set(state) == {f"{i}.{p}" for i in conv_shapes() for p in ("weight", "bias")}
    # no temp file left; the cache's lock file stays (filelock keeps it for the next waiter)
    assert sorted(p.name for p in cache_dir().iterdir()) == [CACHE_FILE_NAME, f"{CACHE_FILE_NAME}.lock"]
    assert str(cached) in weights_status() and "cached at" in weights_status()

    # Offline now, and torch hub's copy gone: the features cache alone must do.
    server.close()
    hub_file().unlink()
    again = load_vgg19_features("torchvision")
    assert_tiny_values(again, offset=20)
    assert fetch_imagenet_weights(progress=False) == cached
    assert len(server.requests) == 1


def test_fetch_downloads_once_and_returns_the_cache_path(serve) -> None:
    server = serve(to_bytes(full_torchvision_state(offset=30)))
    path = fetch_imagenet_weights(progress=False)
    assert path == cache_dir() / CACHE_FILE_NAME and path.is_file()
    assert fetch_imagenet_weights(progress=False) == path
    assert len(server.requests) == 1
    assert_tiny_values(load_vgg19_features(), offset=30)


def test_a_file_already_in_torch_hub_needs_no_network(serve) -> None:
    hub_file().parent.mkdir(parents=True)
    hub_file().write_bytes(to_bytes(full_torchvision_state(offset=40)))
    server = serve(None)  # would answer 404 if asked
    assert "needs no download" in weights_status()
    assert_tiny_values(load_vgg19_features("torchvision"), offset=40)
    assert server.requests == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("failure", ["refused", "http-404"])
def test_offline_is_one_clear_error_naming_both_ways_out(serve, monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    if failure == "refused":
        url = f"http://127.0.0.1:{_closed_port()}/{HUB_NAME}"
        weights = torchvision.models.VGG19_Weights.IMAGENET1K_V1
        monkeypatch.setattr(weights.value, "url", url)
    else:
        serve(None)
    with pytest.raises(UserError) as excinfo:
        load_vgg19_features("torchvision")
    message = one_line_error(excinfo)
    assert message.startswith("VGG19 ImageNet weights are not cached and could not be downloaded (")
    assert ("refused" in message) if failure == "refused" else ("HTTP 404" in message)
    assert f"they are cached in {cache_dir()}" in message
    # from Python: the keyword (the command line's --weights is in test_cli)
    assert "weights=PATH" in message and "vgg19-dcbb9e9d.pth" in message
    assert 'weights="random"' in message and "--weights" not in message
    assert not (cache_dir() / CACHE_FILE_NAME).exists()
    with pytest.raises(UserError, match="could not be downloaded"):
        fetch_imagenet_weights(progress=False)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>sign in to the hotel wifi</html>", "not a PyTorch weights file"),
        (to_bytes({"features.0.weight": torch.zeros(1)}), "features.0.weight has shape (1)"),
    ],
    ids=["html", "wrong-model"],
)
def test_a_bad_download_is_reported_and_never_cached(serve, body: bytes, expected: str) -> None:
    serve(body)
    with pytest.raises(UserError) as excinfo:
        load_vgg19_features("torchvision")
    message = one_line_error(excinfo)
    assert expected in message
    if expected.startswith("not a PyTorch"):
        assert str(hub_file()) in message and "delete" in message
    assert not (cache_dir() / CACHE_FILE_NAME).exists()


def test_a_damaged_cache_is_named_not_silently_replaced(serve) -> None:
    server = serve(to_bytes(full_torchvision_state()))
    cached = cache_dir() / CACHE_FILE_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a file")
    with pytest.raises(UserError) as excinfo:
        load_vgg19_features("torchvision")
    message = one_line_error(excinfo)
    assert str(cached) in message and "delete" in message
    assert server.requests == []


@pytest.mark.slow
def test_workers_starting_together_on_an_empty_cache_download_once(serve, tmp_path: Path) -> None:
    """`batch --workers 3` on a fresh machine: three real processes load ImageNet weights at once;
    one downloads and caches, the others wait for it and read the cache."""
    from together import outputs, start_together

    server = serve(to_bytes(full_torchvision_state(offset=50)))
    prepare = """
        import sys, torchvision
        from timelapse_nst.engine.weights import load_vgg19_features
        torchvision.models.VGG19_Weights.IMAGENET1K_V1.value.url = sys.argv[2]
    """
    act = "print(float(load_vgg19_features('torchvision')[0].weight[0, 0, 0, 0]))"
    url = f"{server.url}/{HUB_NAME}"
    processes = start_together(prepare, act, tmp_path / "gate", args=[[url]] * 3)
    assert [float(out) for out in outputs(processes)] == [51.0] * 3
    assert server.requests == [f"/{HUB_NAME}"]
    assert_tiny_values(load_vgg19_features("torchvision"), offset=50)
