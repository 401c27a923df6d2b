"""Assembly end to end: real run folders, real ffmpeg, ffprobe and a headless Chromium."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from browser import chromium_page
from conftest import decode, require_tool, torch_loaded_by
from PIL import Image
from runfolder_factory import make_run

from timelapse_nst.assembly import assemble_run
from timelapse_nst.errors import UserError

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
FAST = {"preset": "ultrafast", "fps": 10}  # tests favour speed over compression
TESTS = Path(__file__).parent


def probe(path: Path) -> dict:
    ffprobe = require_tool("ffprobe")
    result = subprocess.run(
        [ffprobe, "-v", "error", "-show_streams", "-show_format", "-count_frames", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order (to check `moov` comes before `mdat`)."""
    boxes, data = [], path.read_bytes()
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        boxes.append(kind)
        if size < 8:
            break
        offset += size
    return boxes


def decode_frame(path: Path, seconds: float) -> np.ndarray:
    """One decoded RGB frame of the video at `seconds`."""
    info = probe(path)["streams"][0]
    return decode(path, seek=("-ss", f"{seconds}"), frames=1).reshape(info["height"], info["width"], 3)


@pytest.mark.parametrize(
    ("layout", "resolution", "size"),
    [("plain", "720p", (1280, 720)), ("showcase", "640x360", (640, 360)), ("shorts", None, (1080, 1920))],
)
def test_each_layout_makes_a_youtube_ready_mp4(
    tmp_path: Path, layout: str, resolution: str | None, size: tuple[int, int]
) -> None:
    # Multi-scale: the early frames are smaller than the late ones.
    run = make_run(tmp_path / "run", frame_size=lambda i: (32, 24) if i < 8 else (64, 48))
    video = {"layout": layout, "resolution": resolution, "duration": 1.5, "intro": 0.3, "hold": 0.3, **FAST}
    path = assemble_run(run, overrides=video)

    assert path == run / "timelapse.mp4"
    info = probe(path)
    stream = info["streams"][0]
    assert (stream["width"], stream["height"]) == size
    assert (stream["codec_name"], stream["profile"], stream["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert stream["r_frame_rate"] == stream["avg_frame_rate"] == "10/1"  # constant frame rate
    assert int(stream["nb_read_frames"]) == 15
    assert abs(float(info["format"]["duration"]) - 1.5) <= 0.1 + 1e-6  # target +- 1 frame
    assert (stream["color_space"], stream["color_transfer"], stream["color_primaries"]) == ("bt709",) * 3
    assert stream["has_b_frames"] >= 1
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")  # +faststart: plays while downloading
    assert not list(run.glob("*.partial"))


def test_plain_video_shows_the_painting_fitted_and_upscaled(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    path = assemble_run(run, overrides={"layout": "plain", "resolution": "640x360", "duration": 1, **FAST})
    last = decode_frame(path, 0.9).astype(np.float32)
    # 64x48 (4:3) fills the 360 px height: 480 px wide, with 80 px of background each side.
    assert np.abs(last[:, :70] - 16).mean() < 3  # #101010 padding
    shown = np.asarray(
        Image.fromarray(last[:, 80:560].astype(np.uint8)).resize((64, 48), Image.Resampling.BOX), np.float32
    )
    final = np.asarray(Image.open(run / "final.png"), np.float32)
    assert np.abs(shown - final).mean() < 8  # colours survive RGB -> BT.709 YUV -> RGB


def test_keyframes_every_half_second(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    path = assemble_run(run, overrides={"layout": "plain", "resolution": "320x180", "duration": 2, **FAST})
    result = subprocess.run(
        [
            require_tool("ffprobe"),
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "frame=key_frame",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    keys = [index for index, flag in enumerate(result.stdout.split()) if flag.startswith("1")]
    assert keys[0] == 0 and max(np.diff([*keys, 20])) <= 5  # GOP of half the frame rate


def test_audio_is_aac_48k_as_long_as_the_video_and_fades_out(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    tone = tmp_path / "tone.wav"  # 0.7 s: must be looped to fill 2 s
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.7", str(tone)], check=True
    )
    path = assemble_run(
        run,
        overrides={
            "layout": "plain",
            "resolution": "320x180",
            "duration": 2,
            "audio": str(tone),
            "audio_fade_out": 1.0,
            **FAST,
        },
    )
    streams = {stream["codec_type"]: stream for stream in probe(path)["streams"]}
    audio = streams["audio"]
    assert (audio["codec_name"], audio["profile"], audio["sample_rate"]) == ("aac", "LC", "48000")
    assert abs(float(audio["duration"]) - float(streams["video"]["duration"])) <= 0.1
    samples = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-map", "0:a", "-ac", "1", "-ar", "8000", "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    wave = np.frombuffer(samples, np.int16).astype(np.float64)
    loudness = lambda start, end: np.sqrt(np.mean(wave[int(start * 8000) : int(end * 8000)] ** 2))  # noqa: E731
    assert loudness(0.8, 0.95) > 1000  # looped: still sounding after the 0.7 s tone ended
    assert loudness(1.9, 1.98) < 0.15 * loudness(0.8, 0.95)  # faded out


def test_chromium_plays_the_video(tmp_path: Path) -> None:
    run = make_run(tmp_path / "site" / "run")
    assemble_run(run, overrides={"layout": "showcase", "resolution": "640x360", "duration": 2, **FAST})
    shutil.copy(run / "timelapse.mp4", tmp_path / "site" / "video.mp4")
    (tmp_path / "site" / "index.html").write_text(PLAYER_PAGE, encoding="utf-8")
    handler = functools.partial(QuietHandler, directory=str(tmp_path / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium_page() as page:
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            page.wait_for_function("document.getElementById('result').textContent !== 'waiting'")
            result, duration = page.text_content("#result"), float(page.text_content("#duration") or "nan")
            # Then it plays on from the 1 s it was sought to, in the browser's own time.
            page.evaluate("document.getElementById('video').play()")
            page.wait_for_function("document.getElementById('video').currentTime > 1.3")
            played = page.evaluate("document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames")
    finally:
        server.shutdown()
    assert result == "ok", result
    assert duration == pytest.approx(2.0, abs=0.1)
    assert played > 0


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


PLAYER_PAGE = """<!doctype html><html><body>
<video id="video" muted playsinline preload="auto" src="video.mp4"></video>
<canvas id="canvas" width="64" height="36"></canvas>
<p id="result">waiting</p><p id="duration">?</p>
<script>
const video = document.getElementById('video'), result = document.getElementById('result');
video.addEventListener('error', () => { result.textContent = 'error ' + (video.error && video.error.code); });
video.addEventListener('loadeddata', () => { video.currentTime = 1.0; });
video.addEventListener('seeked', () => {
  document.getElementById('duration').textContent = video.duration;
  const context = document.getElementById('canvas').getContext('2d');
  context.drawImage(video, 0, 0, 64, 36);
  const pixels = context.getImageData(0, 0, 64, 36).data;
  let brightest = 0;
  for (let i = 0; i < pixels.length; i += 4) brightest = Math.max(brightest, pixels[i] + pixels[i + 1] + pixels[i + 2]);
  result.textContent = brightest > 150 ? 'ok' : 'black frame ' + brightest;
});
</script></body></html>"""


def assemble_in_subprocess(run: Path, overrides: dict, extra: str = "") -> subprocess.Popen[str]:
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        f"{extra}\n"
        "from timelapse_nst.assembly import assemble_run\n"
        f"assemble_run(Path({str(run)!r}), overrides=json.loads({json.dumps(json.dumps(overrides))}),\n"
        "             progress=lambda done, total: print(done, flush=True) if done == 20 else None)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_stopping_during_encoding_leaves_the_old_video_intact(tmp_path: Path, stop: signal.Signals) -> None:
    run = make_run(tmp_path / "run")
    old = assemble_run(run, overrides={"layout": "plain", "resolution": "320x180", "duration": 1, **FAST}).read_bytes()
    # A slow encode (1000 frames of 720p at the default preset) to interrupt half way.
    process = assemble_in_subprocess(run, {"layout": "showcase", "resolution": "720p", "duration": 100, "fps": 10})
    assert process.stdout is not None and process.stdout.readline().strip() == "20"  # 20 frames are encoding
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode != 0
    assert (run / "timelapse.mp4").read_bytes() == old
    if stop == signal.SIGINT:  # a Ctrl-C also cleans up the partial file
        assert "KeyboardInterrupt" in stderr
        assert not list(run.glob("*.partial"))


def _undecodable_wav(path: Path) -> Path:
    """A WAV whose audio stream is in a codec no ffmpeg decodes (format tag 0x9999): it reads as
    sound, so only the encode itself fails."""
    import struct

    samples = b"\x00" * 4000
    fmt = struct.pack("<HHIIHH", 0x9999, 2, 48000, 48000 * 4, 4, 16)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples)) + samples
    path.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    return path


def test_ffmpeg_failure_is_one_line_with_ffmpegs_words(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    odd = _undecodable_wav(tmp_path / "odd.wav")
    with pytest.raises(UserError) as error:
        assemble_run(
            run, overrides={"layout": "plain", "resolution": "320x180", "duration": 1, "audio": str(odd), **FAST}
        )
    message = str(error.value)
    assert "\n" not in message and message.startswith("ffmpeg failed")
    assert "decoder" in message.lower()
    assert not (run / "timelapse.mp4").exists() and not list(run.glob("*.partial"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("cover.jpg", "cover.jpg has no audio stream"), ("song.mp3", "song.mp3: not a file ffmpeg can read")],
)
def test_a_sound_track_without_sound_is_refused_before_encoding(tmp_path: Path, name: str, expected: str) -> None:
    run = make_run(tmp_path / "run")
    track = tmp_path / name
    if track.suffix == ".jpg":
        Image.new("RGB", (32, 24), (10, 20, 30)).save(track)
    else:
        track.write_text("this is not a sound file\n")
    with pytest.raises(UserError) as error:
        assemble_run(run, overrides={"audio": str(track), "duration": 1})
    assert expected in str(error.value) and "\n" not in str(error.value)
    assert "map" not in str(error.value)  # not ffmpeg's advice about its -map option
    assert not (run / "timelapse.mp4").exists() and not list(run.glob("*.partial"))


@pytest.mark.parametrize(
    ("codec", "name", "needs"),
    [
        ("vp9", "x.mov", "which needs .webm, .mkv or .mp4"),
        ("av1", "x.mov", "which needs .webm, .mkv or .mp4"),
        ("h264", "x.webm", "which needs .mp4, .mov or .mkv"),
    ],
)
def test_a_codec_its_container_cannot_hold_is_one_line_naming_those_that_can(
    tmp_path: Path, codec: str, name: str, needs: str
) -> None:
    run = make_run(tmp_path / "run")
    with pytest.raises(UserError) as error:
        assemble_run(run, out=tmp_path / name, overrides={"codec": codec, "duration": 1})
    message = str(error.value)
    assert f"cannot hold {codec} video, {needs}" in message and "\n" not in message
    assert 'overrides={"codec": ' in message  # from Python: assemble's keyword, not a flag
    assert not (tmp_path / name).exists() and not (run / "timelapse.mp4").exists()


def test_assembly_never_imports_torch(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    video = {"resolution": "320x180", "duration": 1, "preset": "ultrafast"}
    assemble = f"from pathlib import Path\nimport timelapse_nst.assembly.command as c\nc.assemble_run(Path({str(run)!r}), overrides={video!r})"
    assert torch_loaded_by(assemble) == []
    assert (run / "timelapse.mp4").is_file()


@pytest.mark.slow  # about 20 s on 2 cores: 1000 frames of 1080p are composed and encoded
def test_memory_stays_flat_for_1000_frames_of_1080p(tmp_path: Path) -> None:
    # Held in memory, 1000 RGB 1080p frames would be 6.2 GB; streaming keeps Python under 400 MB
    # and ffmpeg (x264's lookahead is bounded) under 800 MB.
    run = make_run(tmp_path / "run", iterations=list(range(0, 100)), size=(96, 54))
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from timelapse_nst.assembly import assemble_run\n"
        f"assemble_run(Path({str(run)!r}), overrides={{'layout': 'plain', 'resolution': '1080p', 'fps': 10,\n"
        "    'duration': 100, 'intro': 0, 'hold': 0, 'pacing': 'linear', 'preset': 'ultrafast'})\n"
        # VmHWM, not RUSAGE_SELF: Linux carries a parent's peak across fork+exec, so a child of a
        # big pytest worker would report the worker's memory as its own.
        "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1]\n"
        "print(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    python_kib, ffmpeg_kib = map(int, result.stdout.split())
    assert int(probe(run / "timelapse.mp4")["streams"][0]["nb_read_frames"]) == 1000
    assert python_kib < 400 * 1024
    assert ffmpeg_kib < 800 * 1024


def test_contact_sheet_and_losses_plot(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", iterations=list(range(0, 40)))
    assemble_run(run, overrides={"layout": "plain", "resolution": "320x180", "duration": 1, **FAST})
    sheet = Image.open(run / "contact_sheet.png").convert("RGB")
    # 24 cells of 256x192 in 6 columns, 4 rows, with 12 px gaps and 30 px labels.
    assert sheet.size == (6 * 268 + 12, 4 * (192 + 30 + 12) + 12)
    first = np.asarray(sheet.crop((12, 12, 268, 204)).resize((64, 48)), np.float32)
    frame0 = np.asarray(Image.open(run / "frames" / "000000.png"), np.float32)
    assert np.abs(first - frame0).mean() < 6
    losses = Image.open(run / "losses.png")
    assert losses.size[0] > 600 and len(np.unique(np.asarray(losses.convert("L")))) > 20


def test_assemble_writes_elsewhere_and_skips_a_missing_log(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", log=False, final=False, inputs=False)
    out = tmp_path / "exports" / "mine.mp4"
    assert (
        assemble_run(run, out=out, overrides={"resolution": "320x180", "duration": 1, "outro": "side-by-side", **FAST})
        == out
    )
    assert out.is_file() and not (run / "timelapse.mp4").exists()
    assert (run / "contact_sheet.png").is_file() and not (run / "losses.png").exists()


def test_stray_files_in_frames_are_ignored(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", iterations=[0, 5, 10])
    (run / "frames" / "000007.png.partial").write_bytes(b"half a png")
    (run / "frames" / "notes.txt").write_text("hello")
    assemble_run(run, overrides={"layout": "plain", "resolution": "320x180", "duration": 1, **FAST})
    assert (run / "timelapse.mp4").is_file()


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda run: (run / "render.yaml").unlink(), "is not a run folder (no render.yaml)"),
        (lambda run: shutil.rmtree(run / "frames"), "no frames in"),
        (lambda run: (run / "render.yaml").write_text("config: [unclosed"), "not valid YAML"),
        (lambda run: (run / "render.yaml").write_text("config: {video: {crf: 99}}"), "crf: Input should be less"),
        (lambda run: (run / "render.yaml").write_text("config: {video: {speed: 2}}"), "unknown video setting 'speed'"),
        (lambda run: (run / "frames" / "000004.png").write_bytes(b"not a png"), "000004.png"),
        (
            lambda run: (run / "log.jsonl").write_text('{"iteration": 1}\n{"iteration": 2, "losses": {}}\n'),
            "log.jsonl:1",
        ),
    ],
)
def test_bad_run_folders_are_one_line_user_errors(tmp_path: Path, damage, expected: str) -> None:
    run = make_run(tmp_path / "run")
    damage(run)
    with pytest.raises(UserError) as error:
        assemble_run(run, overrides={"resolution": "320x180", "duration": 1, **FAST})
    assert expected in str(error.value) and "\n" not in str(error.value)
    assert not (run / "timelapse.mp4").exists()


def test_a_truncated_last_log_line_is_tolerated(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    with open(run / "log.jsonl", "a", encoding="utf-8") as log:
        log.write('{"iteration": 65, "los')  # the render was killed mid-write
    assemble_run(run, overrides={"layout": "plain", "resolution": "320x180", "duration": 1, **FAST})
    assert (run / "losses.png").is_file()


def test_missing_audio_file_is_a_user_error(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    with pytest.raises(UserError, match="audio file not found"):
        assemble_run(run, overrides={"audio": str(tmp_path / "nope.mp3"), "duration": 1})


@pytest.mark.parametrize("codec", ["h265", "vp9", "av1"])
def test_other_codecs(tmp_path: Path, codec: str) -> None:
    run = make_run(tmp_path / "run", iterations=[0, 10])
    path = assemble_run(
        run, overrides={"layout": "plain", "resolution": "320x180", "duration": 1, "codec": codec, "crf": 40, **FAST}
    )
    stream = probe(path)["streams"][0]
    assert stream["codec_name"] == {"h265": "hevc", "vp9": "vp9", "av1": "av1"}[codec]
    assert (stream["width"], stream["height"], stream["pix_fmt"]) == (320, 180, "yuv420p")
    if codec != "h265":  # VP9 and AV1 go in a WebM when the name says so: the container follows the extension
        webm = assemble_run(
            run,
            out=tmp_path / "video.webm",
            overrides={"layout": "plain", "resolution": "320x180", "duration": 1, "codec": codec, "crf": 40, **FAST},
        )
        info = probe(webm)
        assert "webm" in info["format"]["format_name"] and info["streams"][0]["codec_name"] == codec


def test_assemble_command_passes_options_and_lets_user_errors_through(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from timelapse_nst.assembly.command import assemble_command

    app = typer.Typer()
    app.command("assemble")(assemble_command)
    app.command("other")(lambda: None)  # two commands: `assemble` stays a subcommand
    runner = CliRunner()
    assert "Example: timelapse-nst assemble" in runner.invoke(app, ["assemble", "--help"]).output
    run = make_run(tmp_path / "run")
    (run / "render.yaml").write_text("config: {video: {preset: ultrafast, fps: 10}}\n")
    result = runner.invoke(
        app, ["assemble", str(run), "--layout", "shorts", "--resolution", "180x320", "--duration", "1", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert probe(run / "timelapse.mp4")["streams"][0]["height"] == 320
    bad = runner.invoke(app, ["assemble", str(run), "--resolution", "641x360"])
    assert isinstance(bad.exception, UserError) and "resolution" in str(bad.exception)


def test_shorts_turn_a_named_resolution_vertical(tmp_path: Path) -> None:
    """A run made with a landscape preset (quick-preview says 720p) re-cut as shorts is 9:16."""
    run = make_run(tmp_path / "run", video={"layout": "plain", "resolution": "720p"})
    video = assemble_run(run, overrides={"layout": "shorts", "duration": 1, **FAST})
    stream = probe(video)["streams"][0]
    assert (stream["width"], stream["height"]) == (720, 1280)


def test_a_landscape_size_for_shorts_is_a_one_line_error(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    with pytest.raises(UserError, match="shorts layout is vertical") as error:
        assemble_run(run, overrides={"layout": "shorts", "resolution": "1920x1080"})
    assert "\n" not in str(error.value) and not (run / "timelapse.mp4").exists()


def test_assembly_reads_16_bit_pictures_like_the_render_does(tmp_path: Path) -> None:
    """One loader for render and assembly: a 16-bit value v becomes round(v / 257), as in images.py."""
    from timelapse_nst.assembly.pictures import contact_sheet
    from timelapse_nst.images import load_image
    from timelapse_nst.runfolder.folder import RunFolder

    run = make_run(tmp_path / "run", iterations=[0])
    frame = RunFolder(run).frame_path(0)
    Image.fromarray(np.full((24, 32), 200 * 257, np.uint16)).save(frame)  # 16-bit grey, exactly 200 in 8 bits
    assert np.asarray(load_image(frame))[0, 0].tolist() == [200, 200, 200]
    sheet = contact_sheet(RunFolder(run).frame_list(), tmp_path / "sheet.png", total_iterations=0, cell_width=32)
    with Image.open(sheet) as picture:
        assert picture.getpixel((12 + 16, 12 + 12)) == (200, 200, 200)


def test_a_stopped_render_holds_on_the_iteration_it_reached(tmp_path: Path) -> None:
    """Stopped at 34 of 300: the hold shows "34 / 300", not a finished "300 / 300"."""
    from timelapse_nst.assembly import layouts
    from timelapse_nst.assembly.pipeline import _inputs, video_settings
    from timelapse_nst.assembly.recording import read_recording
    from timelapse_nst.images import load_image

    run = make_run(tmp_path / "run", iterations=[0, 10, 20, 34], total_iterations=300, final=False)
    overrides = {"layout": "showcase", "resolution": "640x360", "duration": 3, "hold": 1, "intro": 0, **FAST}
    video = assemble_run(run, overrides=overrides)
    recording = read_recording(run)
    settings = video_settings(recording.video, overrides)
    last = load_image(recording.frames[-1].path)
    layout = layouts.make_layout(
        "showcase", settings.size, settings.background, _inputs(recording, settings), last.size
    )
    fitted = layouts.resize_to_fit(last, layout.fit(last.size))
    shown = decode_frame(video, 2.9).astype(np.float32)
    at_stop = np.asarray(layout.frame(fitted, 34.0), np.float32)
    finished = np.asarray(layout.frame(fitted, 300.0), np.float32)
    differs = np.abs(at_stop - finished).max(axis=2) > 40  # the bar and the counter: where the two would differ
    assert differs.sum() > 100
    assert np.abs(shown - at_stop)[differs].mean() < 0.3 * np.abs(shown - finished)[differs].mean()


def test_the_title_comes_from_the_input_names_not_a_preset(tmp_path: Path) -> None:
    from timelapse_nst.assembly.pipeline import default_title

    assert default_title("tubingen.jpg", ["starry_night.jpg"]) == "Tubingen after Starry Night"
    assert default_title("IMG_2041.JPG", ["wave.png", "the-scream.jpg"]) == "IMG 2041 after Wave and The Scream"
    # the file's own spelling: no capital after a digit, none forced on a name with capitals
    assert default_title("photo301x177.jpg", ["stripes.png"]) == "Photo301x177 after Stripes"
    assert default_title("iPhone__pic--2b.HEIC", ["o'keeffe_red_canna.png"]) == "iPhone pic 2b after O'keeffe Red Canna"
    import yaml

    demo = yaml.safe_load((Path(__file__).parent.parent / "presets" / "demo.yaml").read_text())
    assert "title" not in demo.get("video", {})  # a preset meant for other pictures names none
