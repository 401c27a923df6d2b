"""MkDocs hooks (mkdocs.yml ``hooks:``): fill the pages' generated blocks from the code, and
publish the quickstart notebook beside the pages.

A page asks for a block with a line ``<!-- generated: NAME -->`` (NAME one of
``docgen.GENERATORS``); the line is replaced with what the generator writes. The build fails,
with or without ``--strict``, when a generator finds something without a description, when a
page names an unknown block, or when a block is asked for by no page (a reference that would
silently vanish from the site).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import docgen  # beside this file, found through the line above

MARKER = re.compile(r"^<!-- generated: ([\w-]+) -->$", flags=re.MULTILINE)
_used: set[str] = set()


def on_pre_build(config: Any, **kwargs: Any) -> None:
    _used.clear()


def on_files(files: Any, config: Any, **kwargs: Any) -> Any:
    """The quickstart notebook, downloadable from the site as ``quickstart.ipynb``."""
    from mkdocs.structure.files import File

    notebook = docgen.REPO / "examples" / "quickstart.ipynb"
    files.append(File.generated(config, "quickstart.ipynb", abs_src_path=str(notebook)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str:
    from mkdocs.exceptions import PluginError

    def generated(match: re.Match[str]) -> str:
        name = match[1]
        if name not in docgen.GENERATORS:
            known = ", ".join(docgen.GENERATORS)
            raise PluginError(f"{page.file.src_path}: unknown generated block '{name}' (known: {known})")
        _used.add(name)
        try:
            return docgen.GENERATORS[name]()
        except docgen.MissingDescription as exc:
            raise PluginError(f"{page.file.src_path}: {exc}") from None

    return MARKER.sub(generated, markdown)


def on_post_build(config: Any, **kwargs: Any) -> None:
    from mkdocs.exceptions import PluginError

    unused = sorted(set(docgen.GENERATORS) - _used)
    if unused:
        raise PluginError(f"no page has the generated block(s) {', '.join(unused)}: the site would lack them")
