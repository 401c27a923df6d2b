"""Where the VGG19 weights come from: ImageNet (downloaded once, cached), a file, or seeded random.

Every source ends in the same place: torchvision's ``vgg19().features`` (37 modules:
16 conv, 16 ReLU, 5 max-pool), float32 on the CPU, in eval mode, with no parameter requiring
grad. A source that cannot deliver is a ``UserError`` naming the way out; there is never a
silent fallback from one source to another.

Files are only ever read with ``torch.load(weights_only=True)``: a pickle that asks to run
code is refused, never run.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import pickle
import socket
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from timelapse_nst.atomic import atomic_path, exclusive
from timelapse_nst.errors import UserError, one_line, option

__all__ = [
    "RANDOM_WEIGHTS_WARNING",
    "cache_dir",
    "fetch_imagenet_weights",
    "load_vgg19_features",
    "weights_availability",
    "weights_status",
]

RANDOM_WEIGHTS_WARNING = "Using random VGG19 weights: fine for timing and tests, the result is not art."

CACHE_ENV = "TIMELAPSE_NST_CACHE"
CACHE_FILE_NAME = "vgg19-imagenet1k-v1-features.pt"

# Only the socket's connect and each read wait this long; a slow but moving download is fine.
# Without it an offline machine whose firewall drops packets would hang forever.
_DOWNLOAD_TIMEOUT_S = 30.0
_FEATURES_PREFIX = "features."
_MAX_REASON_CHARS = 200


# --- the cache -----------------------------------------------------------------------------


def cache_dir() -> Path:
    """``$TIMELAPSE_NST_CACHE``, else ``$XDG_CACHE_HOME/timelapse-nst``, else ``~/.cache/...``."""
    # An empty variable counts as unset, as the XDG spec says.
    if own := os.environ.get(CACHE_ENV):
        return Path(own).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "timelapse-nst"
    return Path.home() / ".cache" / "timelapse-nst"


def _cache_file() -> Path:
    return cache_dir() / CACHE_FILE_NAME


def _hub_file() -> Path:
    """Where torch hub keeps (or would keep) torchvision's full VGG19 download."""
    name = Path(urlparse(torchvision.models.VGG19_Weights.IMAGENET1K_V1.url).path).name
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def weights_status() -> str:
    """One line: are the ImageNet VGG19 features cached, and where."""
    path = _cache_file()
    if path.is_file():
        size_mb = path.stat().st_size / 1e6
        return f"ImageNet VGG19 features: cached at {path} ({size_mb:.0f} MB)."
    if _hub_file().is_file():
        return (
            f"ImageNet VGG19 features: not cached yet at {path}; torch hub already has "
            f"{_hub_file()}, so the first use needs no download."
        )
    return (
        f"ImageNet VGG19 features: not cached; the first use downloads them once (548 MB) "
        f"and keeps the features in {path}. Offline: {_local_file()} or {option('weights', 'random')}."
    )


def weights_availability(source: str) -> str:
    """Whether a render's weights are here (``source`` as ``inputs.weights_source`` gives it):
    random, a file, cached, or a download (what ``timelapse-nst plan`` says)."""
    if source == "random":
        return "random (seeded): for tests and timing, the result is not art"
    if source == "torchvision":
        return weights_status()
    return f"the file {source} ({Path(source).stat().st_size / 1e6:.0f} MB)"


def fetch_imagenet_weights(*, progress: bool = True) -> Path:
    """Make sure the ImageNet features cache exists (downloading once) and return its path."""
    path = _cache_file()
    if not path.is_file():
        _cached_or_downloaded(progress=progress)
    return path


# --- the one entry point -------------------------------------------------------------------


def load_vgg19_features(source: str | Path = "torchvision", *, seed: int = 0, progress: bool = False) -> nn.Sequential:
    """VGG19 ``features`` with weights from ``source``: "torchvision", "random" or a file path.

    ``seed`` is used by "random" only; ``progress`` shows torch hub's download bar.
    """
    features = _empty_features()
    if source == "torchvision":
        _install(features, _imagenet_state(progress=progress), origin="ImageNet VGG19 weights")
    elif source == "random":
        _init_random(features, seed)
    else:
        path = Path(source).expanduser()
        _install(features, _file_state(path), origin=str(path))
    features.eval()
    features.requires_grad_(False)
    return features


def _empty_features() -> nn.Sequential:
    """The features architecture with uninitialised CPU parameters (every one is set later)."""
    # Built on the meta device: torchvision's own init would cost a second, allocate the 400 MB
    # classifier only to drop it, and draw from (and so change) the global RNG.
    with torch.device("meta"):
        features = torchvision.models.vgg19(weights=None).features
    return features.to_empty(device="cpu")


# --- source: seeded random -----------------------------------------------------------------


def _init_random(features: nn.Sequential, seed: int) -> None:
    """torchvision's VGG init (kaiming-normal fan_out/relu, zero bias) from a private generator."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in features.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)


# --- source: a local file ------------------------------------------------------------------


def _file_state(path: Path) -> Mapping[str, Any]:
    if not path.exists():
        raise UserError(
            f"Weights file not found: {path} ({option('weights')} takes torchvision, random, or the path of a "
            "VGG19 .pth file)."
        )
    if not path.is_file():
        raise UserError(f"Weights path is not a file: {path}.")
    try:
        return _safe_load(path)
    except Exception as exc:  # torch.load raises many types on bad input; all mean "bad file"
        raise UserError(f"Cannot load VGG19 weights from {path}: {_load_failure(exc)}.") from exc


def _safe_load(path: Path) -> Any:
    with warnings.catch_warnings():
        # torch warns about pickle protocols it was not written with; the load result says enough.
        warnings.simplefilter("ignore", UserWarning)
        return torch.load(path, map_location="cpu", weights_only=True)


def _load_failure(exc: BaseException) -> str:
    """Why a weights_only load failed, in a few words fit for one line."""
    text = str(exc)
    for line in text.splitlines():
        if "GLOBAL" in line:
            # e.g. "Trying to load unsupported GLOBAL posix.system whose module posix is blocked."
            return (
                "it is a pickle that asks to run code or build objects "
                f"({one_line(line, limit=_MAX_REASON_CHARS)}), and weights are only loaded safely (weights_only)"
            )
    not_weights = "it is not a PyTorch weights file (or it holds objects that are not plain tensors)"
    if text.startswith("Weights only load failed") or isinstance(exc, (EOFError, KeyError, pickle.UnpicklingError)):
        return not_weights  # a KeyError's message is a bare byte value from the unpickler: say what it means
    return one_line(text, limit=_MAX_REASON_CHARS) or not_weights


# --- source: the ImageNet download ---------------------------------------------------------


def _imagenet_state(*, progress: bool) -> Mapping[str, Any]:
    path = _cache_file()
    if not path.is_file():
        return _cached_or_downloaded(progress=progress)
    return _load_cache(path)


def _load_cache(path: Path) -> Mapping[str, Any]:
    try:
        return _safe_load(path)
    except Exception as exc:  # any failure: the cache file is damaged
        raise UserError(
            f"The cached VGG19 features at {path} are unreadable ({_load_failure(exc)}); "
            "delete that file to download them again."
        ) from exc


def _cached_or_downloaded(*, progress: bool) -> Mapping[str, Any]:
    """Download and cache under the cache's lock: workers that start together on an empty cache
    (``batch --workers 2``) download once; the others wait, then read what the first cached."""
    path = _cache_file()
    try:
        with exclusive(path):
            return _load_cache(path) if path.is_file() else _download_and_cache(progress=progress)
    except OSError as exc:  # the lock beside the cache cannot be made: the cache cannot be written either
        raise UserError(f"cannot write the weights cache in {path.parent}: {exc.strerror or exc}") from None


def _download_and_cache(*, progress: bool) -> dict[str, torch.Tensor]:
    """Fetch torchvision's VGG19 (via torch hub), keep the features, cache them atomically."""
    # 1. Download (torch hub keeps the full file; a second call finds it there).
    state = _download_state_dict(progress=progress)
    # 2. Keep only the features, and check them before anything is cached.
    features_state = _features_only(state, origin="the downloaded VGG19 weights")
    _install(_empty_features(), features_state, origin="the downloaded VGG19 weights")
    # 3. Write the small cache: tmp + rename, so a crash never leaves half a file.
    _save_atomically(features_state, _cache_file())
    return features_state


def _download_state_dict(*, progress: bool) -> Mapping[str, Any]:
    weights = torchvision.models.VGG19_Weights.IMAGENET1K_V1
    try:
        # torch hub writes "Downloading: ..." to stdout; keep stdout for our own output, and
        # say nothing at all when no progress is wanted (--quiet).
        with contextlib.ExitStack() as stack:
            sink = sys.stderr if progress else stack.enter_context(open(os.devnull, "w"))
            stack.enter_context(_socket_timeout(_DOWNLOAD_TIMEOUT_S))
            stack.enter_context(contextlib.redirect_stdout(sink))
            stack.enter_context(contextlib.redirect_stderr(sink))
            return weights.get_state_dict(progress=progress, map_location="cpu", weights_only=True)
    # HTTPError < URLError < OSError; socket timeouts and refused connections are OSErrors too.
    except (OSError, http.client.HTTPException) as exc:
        raise UserError(_offline_message(_network_reason(exc))) from exc
    except Exception as exc:  # downloaded, but torch.load failed: a damaged or wrong file
        raise UserError(
            f"The downloaded VGG19 weights at {_hub_file()} are unreadable ({_load_failure(exc)}); "
            f"delete that file and try again, or pass {_local_file()} to a local VGG19 file."
        ) from exc


def _offline_message(reason: str) -> str:
    return (
        f"VGG19 ImageNet weights are not cached and could not be downloaded ({reason}). "
        f"Connect to the internet once (they are cached in {cache_dir()}), or pass "
        f"{_local_file()} to a local VGG19 file (e.g. vgg19-dcbb9e9d.pth). "
        f"For a smoke test only: {option('weights', 'random')}."
    )


def _local_file() -> str:
    return option("weights", "PATH", placeholder=True)


def _network_reason(exc: BaseException) -> str:
    if isinstance(exc, HTTPError):
        return one_line(f"HTTP {exc.code} {exc.reason}", limit=_MAX_REASON_CHARS)
    if isinstance(exc, URLError):
        return one_line(exc.reason, limit=_MAX_REASON_CHARS)
    return one_line(exc, limit=_MAX_REASON_CHARS)


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # torch hub calls urlopen without a timeout, so the process-wide default is the only knob.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _save_atomically(state: Mapping[str, torch.Tensor], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        torch.save(dict(state), partial)


# --- checking and installing a state dict --------------------------------------------------


def _features_only(state: Any, *, origin: str) -> dict[str, Any]:
    """The features' tensors keyed like ``vgg19().features`` ("0.weight"), from any accepted layout.

    Accepted: a full torchvision VGG19 state dict ("features.0.weight", classifier ignored),
    a features-only one ("0.weight"), or either wrapped under "state_dict" or "model".
    """
    if isinstance(state, Mapping):
        for wrapper in ("state_dict", "model"):
            if isinstance(state.get(wrapper), Mapping):
                state = state[wrapper]
                break
    if not isinstance(state, Mapping):
        raise UserError(f"{origin} holds a {type(state).__name__}, not a VGG19 state dict.")
    keys = [key for key in state if isinstance(key, str)]
    if any(key.startswith(_FEATURES_PREFIX) for key in keys):
        return {key[len(_FEATURES_PREFIX) :]: state[key] for key in keys if key.startswith(_FEATURES_PREFIX)}
    if "0.weight" in state:
        return dict(state)
    raise UserError(f"{origin} has no VGG19 feature weights (missing features.0.weight).")


def _install(features: nn.Sequential, state: Any, *, origin: str) -> None:
    """Check ``state`` against the architecture key by key, then copy it in (as float32)."""
    tensors = _features_only(state, origin=origin)
    expected = features.state_dict()
    for key, target in expected.items():
        _check_tensor(tensors.get(key), key, tuple(target.shape), origin=origin)
    unexpected = sorted(set(tensors) - set(expected), key=str)
    if unexpected:
        raise UserError(
            f"{origin} has an unexpected key {_FEATURES_PREFIX}{unexpected[0]} "
            "(not a plain VGG19: VGG19-BN or another model?)."
        )
    with torch.no_grad():
        for key, target in expected.items():
            target.copy_(tensors[key])


def _check_tensor(value: Any, key: str, shape: tuple[int, ...], *, origin: str) -> None:
    name = _FEATURES_PREFIX + key
    if value is None:
        raise UserError(f"{origin} has no VGG19 feature weights (missing {name}).")
    if not isinstance(value, torch.Tensor):
        raise UserError(f"{origin}: {name} is a {type(value).__name__}, not a tensor.")
    if tuple(value.shape) != shape:
        raise UserError(f"{origin}: {name} has shape {_shape(value.shape)}, expected {_shape(shape)} (not VGG19?).")
    if not value.is_floating_point():
        raise UserError(f"{origin}: {name} has dtype {value.dtype}, expected floating point.")
    if value.numel() and not bool(torch.isfinite(value).all()):
        raise UserError(f"{origin}: {name} contains NaN or infinite values.")


def _shape(shape: Any) -> str:
    return "(" + ", ".join(str(int(size)) for size in shape) + ")"
