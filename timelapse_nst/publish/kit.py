"""Wires the publishing kit: settle title and credits, then tag, thumbnail, loops, description."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image
from pydantic import ValidationError

from timelapse_nst.assembly import recording, tags, timeline
from timelapse_nst.assembly.pipeline import title_of, video_settings
from timelapse_nst.atomic import write_atomic
from timelapse_nst.errors import UserError, option
from timelapse_nst.images import load_image
from timelapse_nst.publish import description, gif, loop, metadata, thumbnail
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings.credits import Credits
from timelapse_nst.settings.video import VideoSettings
from timelapse_nst.version import __version__

Notify = Callable[[str], None]


@dataclass(frozen=True)
class _Kit:
    """What every file of the kit is made from, settled once."""

    run: recording.Recording
    settings: VideoSettings  # the run's video settings (with a given title)
    credits: Credits
    title: str
    video: metadata.VideoInfo | None  # the existing timelapse.mp4, if any
    settings_lines: list[str]


def publish_run(
    run_dir: str | Path,
    *,
    credit: str | None = None,
    title: str | None = None,
    boomerang: bool = False,
    loop_seconds: float = 6.0,
    loop_long_edge: int = 1080,
    lock: bool = True,
    notify: Notify = lambda message: None,
) -> list[Path]:
    """Write the publishing kit into the run folder `run_dir`; returns the files written.

    `credit` (the painting's credit) and `title` are also saved in render.yaml, so a later
    `assemble` keeps them. `lock=False` is for a caller that already holds the run's lock.
    """
    loop.check_seconds(loop_seconds)
    if title is not None and not title.strip():
        raise UserError(f"{option('title', '')}: give a title (an empty one would leave the thumbnail without one)")
    run = recording.read_recording(Path(run_dir))
    with _held(run.folder, lock):
        kit = _settle(run, credit, title)
        written = []
        if kit.video is not None:
            written.append(_tag_video(kit))
        else:
            notify(f"no {run.folder.video.name} yet (make it with `timelapse-nst assemble {run.root}`): not tagged")
        photo = load_image(run.photo or run.frames[0].path)  # a clip: its first frame
        painting = load_image(run.final or run.frames[-1].path)
        picture = thumbnail.make_thumbnail(photo, painting, kit.title)
        written.append(thumbnail.save_jpeg(picture, run.folder.thumbnail))
        written += _loops(kit, painting, boomerang, loop_seconds, loop_long_edge, notify)
        written.append(_describe(kit))
    for path in written:
        notify(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return written


def _settle(run: recording.Recording, credit: str | None, title: str | None) -> _Kit:
    """Title and credits (a given one is remembered in render.yaml), and the video as it is."""
    where = f"{run.folder.manifest} config"
    given = {"title": title} if title is not None else None
    settings = video_settings(run.video, given, where=f"{where}.video", keywords=True)
    credits = tags.read_credits(run.config, where=where)
    if credit is not None:
        try:
            credits = credits.with_painting(credit)
        except ValidationError as error:
            message = error.errors()[0]["msg"].removeprefix("Value error, ")
            raise UserError(f"{option('credit', credit)}: {message}") from None
    if credit is not None or title is not None:
        _remember(run.folder, credits if credit is not None else None, title)
    video = metadata.read_video(run.folder.video) if run.folder.video.is_file() else None
    # The video's own title first: `assemble --title` may have given it one render.yaml lacks.
    shown = title or (video.tags.get("title") if video else None) or settings.title or title_of(run)
    lines = tags.settings_lines(run.config, weights=run.weights)
    return _Kit(run, settings, credits, shown, video, lines)


def _tag_video(kit: _Kit) -> Path:
    """timelapse.mp4's tags, rewritten by a stream copy; its creation time kept."""
    video = kit.run.folder.video
    assert kit.video is not None
    created = _created(kit.video, video)
    new = tags.video_tags(title=kit.title, credits=kit.credits, settings=kit.settings_lines, created=created)
    return metadata.write_tags(video, {key: new.get(key, "") for key in metadata.MANAGED_TAGS})


def _loops(
    kit: _Kit, painting: Image.Image, boomerang: bool, seconds: float, long_edge: int, notify: Notify
) -> list[Path]:
    """loop.mp4 and loop.gif from the captured frames, paced like the video."""
    run, settings = kit.run, kit.settings
    changes = None
    if settings.pacing == "change":
        changes = timeline.frame_changes([recording.thumbnail(frame.path) for frame in run.frames])
    iterations = [frame.iteration for frame in run.frames]
    frames = loop.Frames([frame.path for frame in run.frames], iterations, painting, changes)
    loop_tags = {"title": kit.title, "creation_time": tags.iso8601(datetime.now(UTC))}
    if kit.credits.artist_tag:
        loop_tags["artist"] = kit.credits.artist_tag
    options = {"seconds": seconds, "boomerang": boomerang}
    mp4 = loop.write_loop_mp4(
        frames, run.folder.loop_video, **options, long_edge=long_edge, video=settings, tags=loop_tags
    )
    size = gif.gif_size(painting.size)

    def frames_at(fps: int) -> Iterator[Image.Image]:
        shots = loop.loop_shots(iterations, fps=fps, pacing=settings.pacing, changes=changes, **options)
        return loop.loop_frames(shots, frames, size, settings.background)

    path, fps, colours = gif.write_gif(frames_at, run.folder.loop_gif)
    notify(f"{path.name}: {size[0]}x{size[1]}, {fps} fps, {colours} colours")
    return [mp4, path]


def _describe(kit: _Kit) -> Path:
    """description.txt, with the chapters of the video as it is."""
    run = kit.run
    text = description.Description(
        title=kit.title,
        credits=tags.credit_lines(
            kit.credits, photo_name=run.content.name, painting_names=[style.name for style in run.styles]
        ),
        settings=kit.settings_lines,
        chapters=kit.video.chapters if kit.video else (),
        duration=kit.video.duration if kit.video else 0.0,
        made_with=f"timelapse-nst {__version__}",
    ).text()
    write_atomic(run.folder.description, text.encode("utf-8"))
    return run.folder.description


def _remember(folder: RunFolder, credits: Credits | None, title: str | None) -> None:
    """Save a given credit or title in render.yaml: `assemble` reads them from there."""
    manifest = folder.read_manifest()
    config = dict(manifest["config"])
    if credits is not None:
        config["credits"] = credits.model_dump(mode="json")
    if title is not None:
        config["video"] = {**(config.get("video") or {}), "title": title}
    folder.write_manifest({**manifest, "config": config})


def _created(info: metadata.VideoInfo, video: Path) -> datetime:
    """When the video was made: its own creation time, else its file's modification time."""
    try:
        return datetime.fromisoformat(info.tags["creation_time"])
    except (KeyError, ValueError):
        return datetime.fromtimestamp(video.stat().st_mtime, UTC)


@contextmanager
def _held(folder: RunFolder, lock: bool) -> Iterator[None]:
    if not lock:
        yield
        return
    folder.lock()
    try:
        yield
    finally:
        folder.unlock()
