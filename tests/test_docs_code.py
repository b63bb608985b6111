"""Every Python code block of README.md and of the documentation pages runs.

The blocks of one file run in order in one namespace (as a reader would type
them), in a temporary working directory, for real: nothing is mocked. The
documentation pages are written with settings small enough to run in
seconds. README.md's "Use" block shows DiEC with its defaults on all digits
(about two minutes on a CPU); only there, the test substitutes the reduced
settings and a subset of the images in ``SUBSTITUTIONS`` below (and the
photos section's folder by its path in the clone), and fails if the text it
replaces is gone, so the table cannot silently stop applying.
"""

from pathlib import Path
import re

import pytest

from .conftest import FAST

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# Files whose python blocks are executed; each must hold at least one.
DOC_FILES = ["README.md"] + sorted(
    str(p.relative_to(ROOT)) for p in [*DOCS.glob("*.rst"), *DOCS.glob("*.md")]
    if re.search(r"```python|code-block:: python", p.read_text(encoding="utf-8"))
)
REQUIRED = {"README.md", "docs/index.rst", "docs/getting_started.rst", "docs/user_guide.rst"}

# file -> [(text in a block, replacement)]: each text must occur exactly once.
# FAST without its backbone settings, for a fit given a U-Net.
_LATER = {k: v for k, v in FAST.items() if k not in ("unet_channels", "pretrain_epochs")}
SUBSTITUTIONS = {
    "README.md": [
        ("X = load_digits().images ", "X = load_digits().images[:500] "),
        ("DiEC(n_clusters=10, random_state=0)",
         f"DiEC(n_clusters=10, random_state=0, **{FAST!r})"),
        ("pretrain_unet(X, random_state=0)",
         f"pretrain_unet(X, random_state=0, unet_channels={FAST['unet_channels']!r}, "
         f"epochs={FAST['pretrain_epochs']!r}, device='cpu')"),
        ("DiEC(n_clusters=10, unet=unet, random_state=0)",
         f"DiEC(n_clusters=10, unet=unet, random_state=0, **{_LATER!r})"),
        # The photos section: the folder from the repository root, reduced settings.
        ('"data/cifar10-sample"',
         repr(str(ROOT / "data" / "cifar10-sample"))),
        ("DiEC(n_clusters=5, random_state=0)", f"DiEC(n_clusters=5, random_state=0, **{FAST!r})"),
    ],
}

_MD_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_RST_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. code-block:: python[ \t]*$", re.M)


def python_blocks(path):
    """``[(line number, source)]`` of the python code blocks of a .md or .rst file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        return [(text.count("\n", 0, m.start()) + 2, m.group(1))
                for m in _MD_BLOCK.finditer(text)]
    lines = text.splitlines()
    blocks = []
    for m in _RST_DIRECTIVE.finditer(text):
        start = text.count("\n", 0, m.start()) + 1  # index of the line after the directive
        outer = len(m.group("indent"))
        i = start
        while i < len(lines) and lines[i].strip().startswith(":"):  # directive options
            i += 1
        body = []
        while i < len(lines) and (not lines[i].strip()
                                  or len(lines[i]) - len(lines[i].lstrip()) > outer):
            body.append(lines[i])
            i += 1
        first = i - len(body)
        while body and not body[0].strip():
            body.pop(0)
            first += 1
        while body and not body[-1].strip():
            body.pop()
        indent = min((len(x) - len(x.lstrip()) for x in body if x.strip()), default=0)
        blocks.append((first + 1, "\n".join(x[indent:] for x in body)))
    return blocks


def test_doc_files_are_found():
    assert REQUIRED <= set(DOC_FILES)


@pytest.mark.parametrize("relpath", DOC_FILES)
def test_block_extraction_is_complete(relpath):
    """As many blocks are extracted as the file opens, none of them empty."""
    path = ROOT / relpath
    text = path.read_text(encoding="utf-8")
    opened = len(re.findall(r"^```python" if path.suffix == ".md"
                            else r"^\s*\.\. code-block:: python", text, re.M))
    blocks = python_blocks(path)
    assert len(blocks) == opened > 0
    assert all(code.strip() for _, code in blocks)


@pytest.mark.parametrize("relpath", DOC_FILES)
def test_code_blocks_run(relpath, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(ROOT / relpath)
    for old, new in SUBSTITUTIONS.get(relpath, []):
        hits = [i for i, (_, code) in enumerate(blocks) if old in code]
        assert len(hits) == 1 and blocks[hits[0]][1].count(old) == 1, (
            f"{relpath}: the substituted text {old!r} must occur exactly once")
        line, code = blocks[hits[0]]
        blocks[hits[0]] = (line, code.replace(old, new))
    namespace = {"__name__": "__main__"}
    try:
        for line, code in blocks:
            exec(compile(code, f"{relpath}, block at line {line}", "exec"), namespace)
    finally:
        plt.close("all")


def test_api_reference_lists_every_public_name():
    """docs/api.rst documents every name in ``__all__`` of skdiec and its modules."""
    import types

    import skdiec

    text = (DOCS / "api.rst").read_text(encoding="utf-8")
    documented = set()
    module = "skdiec"
    in_autosummary = False
    for line in text.splitlines():
        if m := re.match(r"\.\. (currentmodule|automodule):: (\S+)", line):
            module = m.group(2)
            documented.add(module)
        elif m := re.match(r"\.\. py:(class|data|function):: (\w+)", line):
            documented.add(f"{module}.{m.group(2)}")
        in_autosummary = in_autosummary or line.startswith(".. autosummary::")
        if in_autosummary and (m := re.match(r"   (\w+)$", line)):
            documented.add(f"{module}.{m.group(1)}")
        elif line and not line.startswith(" "):
            in_autosummary = line.startswith(".. autosummary::")

    public = set()
    for name in skdiec.__all__:
        obj = getattr(skdiec, name)
        public.add(f"skdiec.{name}" if not isinstance(obj, types.ModuleType) else obj.__name__)
        if isinstance(obj, types.ModuleType):
            public |= {f"{obj.__name__}.{sub}" for sub in obj.__all__}
    assert public - documented == set()
