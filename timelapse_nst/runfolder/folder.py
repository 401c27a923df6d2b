"""The run folder: its layout (every path, once), its lock and its manifest. No torch.

Layout (a stable contract, documented in docs/run-folder.md)::

    render.yaml        resolved config, input hashes, weights source, tool version
    inputs/            byte copies of the content, style and init files (resume needs nothing else)
    frames/NNNNNN.png  captured frames, named by iteration
    log.jsonl          one JSON line per iteration (losses, scheduled weights, learning rate)
    checkpoint.pt      latest checkpoint (checkpoint.prev.pt: the one before)
    progress.json      a small, torch-free summary of the last checkpoint (for `status`)
    final.png          the finished painting
    timelapse.mp4      the video (re-made at will by `timelapse-nst assemble`)
    contact_sheet.png  frames in a labelled grid;  losses.png  the loss curves
    thumbnail.jpg, loop.mp4, loop.gif, description.txt   written by `timelapse-nst publish`
    ../.<name>.lock    beside the folder: the lock of whoever changes it (lock.py)

A clip render (its content a video; render.yaml holds a ``clip`` record, see ``runfolder.clip``)
adds::

    source/NNNNNN.png     the input frames as painted (trimmed, resampled, upright, resized)
    stylised/NNNNNN.png   one painted frame per output frame, written when that frame is finished
    clip.jsonl            one JSON line per finished painted frame, in order
    stylised.mp4          the painted clip with the source's sound

Everything that reads or writes these paths takes them from ``RunFolder``: the render, the
checkpoints, ``status``, assembly and publishing.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from timelapse_nst.atomic import TEMP_SUFFIX, write_atomic
from timelapse_nst.errors import UserError
from timelapse_nst.runfolder.formats import MANIFEST_FORMAT, check_format
from timelapse_nst.runfolder.lock import LEGACY_LOCK_NAME, FolderLock

MANIFEST = "render.yaml"
FRAME_NAME = "{:06d}.png"
FRAME_PATTERN = re.compile(r"^(\d{6})\.png$")
"""A frame's file name; group 1 is its iteration."""


@dataclass(frozen=True)
class Frame:
    """One captured frame: the iteration it shows and where its PNG lies."""

    iteration: int
    path: Path


@dataclass(frozen=True)
class InputFile:
    """One input image as the manifest records it: its copy in the run folder (if present)."""

    role: str  # "content", "style", "init", or a region input's ("mask", "keep mask", ...)
    name: str  # the user's file name, for titles and labels
    sha256: str
    path: Path | None  # the byte copy under inputs/, None if missing or outside the folder


class RunFolder:
    """Paths of one run folder and the operations on it that must be safe."""

    def __init__(self, root: Path | str) -> None:
        # Every path of the folder, named once (BatchFolder names a batch folder's alike).
        self.root = Path(root)
        self.manifest = self.root / MANIFEST
        self.inputs = self.root / "inputs"
        self.frames = self.root / "frames"
        self.log = self.root / "log.jsonl"
        self.checkpoint = self.root / "checkpoint.pt"
        self.previous_checkpoint = self.root / "checkpoint.prev.pt"
        self.staged_checkpoint = self.root / "checkpoint.pt.new"
        self.progress = self.root / "progress.json"
        self.final = self.root / "final.png"
        self.video = self.root / "timelapse.mp4"
        self.contact_sheet = self.root / "contact_sheet.png"
        self.losses_plot = self.root / "losses.png"
        self.thumbnail = self.root / "thumbnail.jpg"  # these four: `publish`
        self.loop_video = self.root / "loop.mp4"
        self.loop_gif = self.root / "loop.gif"
        self.description = self.root / "description.txt"
        self.source = self.root / "source"  # these four: a clip render
        self.stylised = self.root / "stylised"
        self.clip_log = self.root / "clip.jsonl"
        self.stylised_video = self.root / "stylised.mp4"
        self._lock = FolderLock(self.root)
        self.lock_file = self._lock.path  # beside the folder, not in it (see lock.py)

    # -- frames ---------------------------------------------------------------------------
    def frame_path(self, iteration: int) -> Path:
        return self.frames / FRAME_NAME.format(iteration)

    def frame_list(self) -> list[Frame]:
        """Frames named ``NNNNNN.png``, sorted by iteration; other files (leftovers) ignored."""
        if not self.frames.is_dir():
            return []
        found = []
        for path in self.frames.iterdir():
            match = FRAME_PATTERN.match(path.name)
            if match and path.is_file():
                found.append(Frame(int(match[1]), path))
        return sorted(found, key=lambda frame: frame.iteration)

    def frame_iterations(self) -> list[int]:
        return [frame.iteration for frame in self.frame_list()]

    # -- a clip's frames --------------------------------------------------------------------
    def source_frame(self, index: int) -> Path:
        """Input frame ``index`` (0-based) of a clip, as it is painted."""
        return self.source / FRAME_NAME.format(index)

    def stylised_frame(self, index: int) -> Path:
        """Painted frame ``index`` (0-based) of a clip."""
        return self.stylised / FRAME_NAME.format(index)

    def stylised_count(self) -> int:
        """How many painted frames lie in ``stylised/`` without a gap from 000000.png on."""
        count = 0
        while self.stylised_frame(count).is_file():
            count += 1
        return count

    # -- manifest -------------------------------------------------------------------------
    def has_render(self) -> bool:
        return self.manifest.is_file()

    def read_manifest(self) -> dict[str, Any]:
        """render.yaml as a mapping (safe_load: nothing in it runs); UserError if not ours."""
        if not self.root.is_dir():
            raise UserError(f"run folder not found: {self.root}")
        try:
            data = yaml.safe_load(self.manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{self.root} is not a run folder (no {MANIFEST})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}: {getattr(exc, 'problem', '')})" if mark else ""
            raise UserError(f"{self.manifest} is not valid YAML{where}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(
                f"{self.manifest} is unreadable: {getattr(exc, 'strerror', None) or type(exc).__name__}"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise UserError(f"{self.manifest} is not a timelapse-nst manifest (no config mapping)")
        check_format(data.get("format"), MANIFEST_FORMAT, str(self.manifest))
        return data

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        text = yaml.safe_dump(dict(manifest), sort_keys=False, allow_unicode=True)
        write_atomic(self.manifest, text.encode("utf-8"))

    def copy_input(self, stem: str, source: Path) -> str:
        """Copy an input file into ``inputs/`` (atomically); returns its path relative to the run."""
        self.inputs.mkdir(parents=True, exist_ok=True)
        target = self.inputs / f"{stem}{source.suffix.lower() or '.img'}"
        write_atomic(target, source.read_bytes())
        return target.relative_to(self.root).as_posix()

    def input_files(self, manifest: Mapping[str, Any]) -> tuple[InputFile, list[InputFile]]:
        """The content and the style inputs the manifest names (several styles, or one)."""
        inputs = manifest.get("inputs")
        inputs = inputs if isinstance(inputs, Mapping) else {}
        styles = inputs.get("styles")
        if not isinstance(styles, list):  # a manifest of version 0.1 holds one `style` mapping
            styles = [inputs.get("style")]
        content = self._input_file("content", inputs.get("content"))
        return content, [self._input_file("style", entry) for entry in styles]

    def init_file(self, manifest: Mapping[str, Any]) -> InputFile | None:
        """The image the painting starts from (``init: PATH``), or None when it starts from the
        photo, the painting or noise."""
        return next(iter(self.input_entries(manifest, "init", "init")), None)

    def input_entries(self, manifest: Mapping[str, Any], key: str, role: str) -> list[InputFile]:
        """Other inputs the manifest lists under ``inputs.<key>`` (a list of entries, or one)."""
        inputs = manifest.get("inputs")
        entries = inputs.get(key) if isinstance(inputs, Mapping) else None
        entries = entries if isinstance(entries, list) else [] if entries is None else [entries]
        return [self._input_file(role, entry) for entry in entries]

    def _input_file(self, role: str, entry: Any) -> InputFile:
        entry = entry if isinstance(entry, Mapping) else {}
        name = entry.get("name") if isinstance(entry.get("name"), str) and entry["name"].strip() else role
        path = None
        if isinstance(entry.get("file"), str):
            candidate = (self.root / entry["file"]).resolve()
            # The manifest may come from elsewhere: never follow it out of the run folder.
            if candidate.is_relative_to(self.root.resolve()) and candidate.is_file():
                path = candidate
        return InputFile(role, name, str(entry.get("sha256", "")), path)

    # -- lock -----------------------------------------------------------------------------
    def lock(self) -> str | None:
        """Take the folder for this process; refuse (one line, naming the holder) if another live
        process has it. The lock lies beside the folder (see ``lock.py``), so the folder need
        not exist yet. Returns a note when it took over the lock of a process that died."""
        return self._lock.acquire()

    def unlock(self) -> None:
        self._lock.release()

    @contextmanager
    def locked(self, *, must_exist: bool = False) -> Iterator[str | None]:
        """The folder's lock for the block; ``must_exist``: refuse first (one line) a folder that is
        missing or holds no render, rather than make a lock for it."""
        if must_exist and not self.root.is_dir():
            raise UserError(f"run folder not found: {self.root}")
        if must_exist and not self.has_render():
            raise UserError(f"{self.root} is not a run folder (no {MANIFEST})")
        note = self.lock()
        try:
            yield note
        finally:
            self.unlock()

    def holder(self) -> int | None:
        """The pid of the live process that holds the folder (a running render), else None."""
        return self._lock.holder()

    def holder_pid(self) -> int | None:
        """The pid the holder recorded, without probing the lock (cheap; may name a dead one)."""
        return self._lock.recorded_pid()

    # -- housekeeping ---------------------------------------------------------------------
    def remove_partial_files(self) -> int:
        """Delete the temporary files a killed process left behind (every write is atomic)."""
        count = 0
        for folder in (self.root, self.frames, self.inputs, self.source, self.stylised):
            if folder.is_dir():
                for leftover in folder.glob(f"*{TEMP_SUFFIX}"):
                    leftover.unlink(missing_ok=True)
                    count += 1
        return count

    def holds_only_setup(self) -> bool:
        """True when the folder holds nothing but an unfinished set-up of ours (inputs being
        copied, a manifest without a single iteration): the same command may take it over."""
        if not self.root.is_dir():
            return False
        ours = {self.inputs.name, self.frames.name, self.source.name, MANIFEST, LEGACY_LOCK_NAME}
        names = {p.name for p in self.root.iterdir() if not p.name.endswith(TEMP_SUFFIX)}
        frames_empty = not self.frames.is_dir() or not any(self.frames.iterdir())
        no_progress = not self.log.exists() and not self.checkpoint.exists()
        return bool(names) and names <= ours and frames_empty and no_progress

    def move_aside(self) -> Path:
        """Rename the whole folder to ``<name>.previous-N`` (starting over never deletes)."""
        n = 1
        while (target := self.root.with_name(f"{self.root.name}.previous-{n}")).exists():
            n += 1
        shutil.move(str(self.root), str(target))
        return target
