"""Write failures named for what they are: a full disk, a read-only file system, a missing
permission, a path too long. Each is a real failure of a real write (a tiny tmpfs, a read-only
mount in a private mount namespace, an unprivileged user, a name longer than the file system's
limit), not a made-up exception."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from timelapse_nst.errors import UserError, check_writable_folder, command_line, write_errors

# Run in a child: each case writes for real inside write_errors() and reports the message.
WRITES = """
import json, sys
from pathlib import Path
from timelapse_nst.errors import UserError, write_errors

messages = {}
for name, folder in json.loads(sys.argv[1]).items():
    root = Path(folder) / "run"
    try:
        with write_errors(root):
            root.mkdir(exist_ok=True)
            (root / "frame.png").write_bytes(bytes(1 << 20))
    except UserError as error:
        messages[name] = str(error)
print(json.dumps(messages))
"""


def child(folders: dict[str, str], prefix: list[str]) -> dict[str, str]:
    result = subprocess.run(
        [*prefix, sys.executable, "-c", textwrap.dedent(WRITES), json.dumps(folders)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_full_disk_and_a_read_only_file_system_are_named(tmp_path):
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed"
    full, read_only = tmp_path / "full", tmp_path / "ro"
    full.mkdir(), read_only.mkdir()
    mounts = f"mount -t tmpfs -o size=256k none {full} && mkdir {full}/run && mount -t tmpfs -o ro none {read_only}"
    script = f'{mounts} && exec "$@"'
    folders = {"full": str(full), "read-only": str(read_only)}
    messages = child(folders, [unshare, "-rm", "sh", "-c", script, "sh"])
    assert messages["full"].startswith(f"the disk is full while writing to {full}/run (No space left on device)")
    assert f"timelapse-nst resume {full}/run" in messages["full"]
    assert messages["read-only"] == (
        f"cannot write to {read_only}/run: read-only file system; use a folder on a writable disk"
    )


def test_a_folder_without_permission_is_named():
    """As an unprivileged user (root would be let through), a folder it may not write in."""
    locked = Path(tempfile.mkdtemp(prefix="tlnst-nowrite-"))
    locked.chmod(0o755)  # others may read and enter, not write
    try:
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        if not prefix:
            locked.chmod(0o555)
        messages = child({"denied": str(locked)}, prefix)
        assert messages["denied"] == (f"cannot write to {locked}/run: permission denied; use a folder you may write in")
    finally:
        locked.chmod(0o755)
        shutil.rmtree(locked, ignore_errors=True)


def test_a_path_too_long_is_named(tmp_path):
    root = tmp_path / ("x" * 300)
    with pytest.raises(UserError) as refused, write_errors(root):
        root.mkdir()
    assert str(refused.value) == f"cannot write to {root}: the path is too long for the file system; use a shorter one"
    with pytest.raises(UserError) as before, command_line():  # the check before a render refuses it too
        check_writable_folder(root / "run")
    assert str(before.value) == f"--out {root / 'run'}: the path is too long for the file system; use a shorter one"
    with pytest.raises(UserError) as from_python:  # named as the API's keyword
        check_writable_folder(root / "run")
    assert str(from_python.value).startswith(f'out="{root / "run"}": the path is too long')


def test_other_failures_keep_the_system_s_words(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError) as refused, write_errors(tmp_path):
        (tmp_path / "afile" / "below").mkdir()  # ENOTDIR
    assert str(refused.value) == f"cannot write to {tmp_path}: Not a directory ({tmp_path / 'afile' / 'below'})"
