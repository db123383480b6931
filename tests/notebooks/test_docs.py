"""The documentation pages stay in step with the code (they ship with the notebooks):
every signature in docs/public-api.md matches the code, the result fields it lists
exist, the pages' relative links and anchors resolve, and docs/index.md links every page."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# the pages written with the notebooks; other pages keep their own tests
OWN_PAGES = ["index.md", "getting-started.md", "connecting.md", "life-of-a-sync.md", "public-api.md"]
SIGNATURE = re.compile(r"^([A-Za-z_][\w.]*)\((.*)\)\s*(->.*)?$")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def public_api_sections() -> list[tuple[str, list[str]]]:
    """(module, code lines) for every '## `module`' section of public-api.md."""
    text = (DOCS / "public-api.md").read_text("utf-8")
    sections = []
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        module = re.match(r"`([\w.]+)`", part)
        if not module:
            continue
        blocks = re.findall(r"```python\n(.*?)```", part, flags=re.S)
        lines = [ln.split("#")[0].strip() for b in blocks for ln in b.splitlines()]
        sections.append((module.group(1), [ln for ln in lines if ln]))
    return sections


def documented_signatures() -> list[tuple[str, str]]:
    return [(module, line) for module, lines in public_api_sections() for line in lines if SIGNATURE.match(line)]


def split_params(text: str) -> list[str]:
    """Top-level comma split (defaults may hold brackets or quoted commas)."""
    out, depth, quote, cur = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def resolve(module: str, dotted: str):
    obj = importlib.import_module(module)
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize(("module", "line"), documented_signatures(), ids=lambda v: v if "(" not in v else v.split("(")[0])
def test_public_api_signature_matches_the_code(module, line):
    name, params, _ = SIGNATURE.match(line).groups()
    obj = resolve(module, name)
    real = inspect.signature(obj)
    real_params = [p for p in real.parameters.values() if p.name not in ("self", "cls")]
    documented = [p for p in split_params(params) if p != "*"]
    doc_names = [p.split("=")[0].strip().lstrip("*") for p in documented]
    assert doc_names == [p.name for p in real_params], f"{module}.{name}: documented {doc_names}, code has {real}"
    for text, param in zip(documented, real_params):
        if "=" not in text:
            assert param.default is inspect.Parameter.empty or param.kind is param.VAR_KEYWORD, f"{name}: {param.name} has a default"
            continue
        try:
            default = ast.literal_eval(text.split("=", 1)[1].strip())
        except (ValueError, SyntaxError):
            continue  # not a literal (time.sleep, <required>): shown symbolically
        assert param.default == default, f"{module}.{name}: {param.name} defaults to {param.default!r}, page says {default!r}"


def test_public_api_covers_every_stage():
    from synctools.machine import STAGES

    lines = [line for _, line in documented_signatures()]
    for stage in STAGES:
        assert any(line.startswith(f"Sync.{stage}(") for line in lines), f"Sync.{stage} is not on public-api.md"


def test_result_fields_on_public_api_exist():
    from synctools import results

    text = (DOCS / "public-api.md").read_text("utf-8")
    rows = re.findall(r"^\| `(\w+Result)` \| (.+) \|$", text, flags=re.M)
    assert len(rows) >= 8
    for cls_name, cell in rows:
        fields = {f.name for f in dataclasses.fields(getattr(results, cls_name))} | set(dir(getattr(results, cls_name)))
        cell = re.sub(r"\([^)]*\)", "", cell)  # values in parentheses are not fields
        for field in re.findall(r"^`(\w+)`|, `(\w+)`", cell):
            name = next(f for f in field if f)
            assert name in fields, f"{cls_name}.{name} is on public-api.md but not in the code"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m) for m in re.findall(r"^#+ (.+)$", path.read_text("utf-8"), flags=re.M)}


@pytest.mark.parametrize("page", [DOCS / p for p in OWN_PAGES] + [ROOT / "notebooks" / "README.md"], ids=lambda p: p.name)
def test_relative_links_resolve(page):
    assert page.exists(), f"{page} is missing"
    for target in LINK.findall(page.read_text("utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        assert dest.exists(), f"{page.name} links to {target}, which does not exist"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{page.name} links to #{anchor}, not a heading of {dest.name}"


def test_index_links_every_page():
    index = (DOCS / "index.md").read_text("utf-8")
    linked = {t.partition("#")[0] for t in LINK.findall(index)}
    missing = sorted(p.name for p in DOCS.glob("*.md") if p.name != "index.md" and p.name not in linked)
    assert not missing, f"docs/index.md does not link {missing}"


def test_getting_started_example_runs():
    """The Python example of getting-started.md, as printed, on the embedded demo stack."""
    text = (DOCS / "getting-started.md").read_text("utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "LocalStack(demo=True)" in b)
    namespace: dict = {}
    exec(compile(block, "getting-started.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["result"].status == "committed"
    assert len(namespace["history"]) > 0 and len(namespace["visits"]) > 0


def test_connecting_storage_token_example_runs():
    """connecting.md's `Sync.from_keys(storage_token=...)` example against a storage-only
    node of the embedded stack (its URL put in place of localhost:8000): an empty node
    needs a fresh start, as the page says."""
    import os

    from synctools.machine import State
    from synctools.protocol.keys import SyncKeys
    from synctools.server import LocalStack

    text = (DOCS / "connecting.md").read_text("utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "storage_token=storage_token" in b)
    secret = re.search(r'SECRET = "([^"]+)"', block).group(1)
    with LocalStack(storage_only=True, secret=secret) as node:
        code = block.replace('NODE = "http://localhost:8000"', f"NODE = {node.url!r}")
        jwk = SyncKeys.from_ksync(os.urandom(64), "1700000000000-" + "A" * 22).to_jwk()
        namespace: dict = {"jwk": jwk}
        exec(compile(code, "connecting.md", "exec"), namespace)  # noqa: S102 - our own documentation
        sync = namespace["sync"]
        assert sync.state is State.FRESH_START_REQUIRED
        assert sync.token.api_endpoint == f"{node.url}/1.5/42"


# -- the README: its Python example runs as printed, its command lines are real -----------------

README = ROOT / "README.md"


def readme_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text("utf-8"), flags=re.S)


def command_lines(text: str, prefix: str) -> list[list[str]]:
    """The `synctools ...` lines of a shell block, as argv (comments and the prompt's
    path dropped)."""
    import shlex

    lines = []
    for raw in text.splitlines():
        line = raw.split("  #")[0].strip()
        if line.startswith(prefix):
            lines.append(shlex.split(line[len(prefix) :]))
    return lines


def test_readme_python_example_runs_as_printed():
    """Exactly as printed, on the embedded demo stack; before the stack stops, a second
    client checks that the server holds the edit the example committed."""
    from synctools import Sync
    from synctools.server import LocalStack

    (block,) = [b for b in readme_blocks("python") if "LocalStack(demo=True)" in b]
    namespace: dict = {}
    seen: dict = {}

    class CheckedStack(LocalStack):
        def __exit__(self, *exc: object) -> None:
            if exc[0] is None:
                other = Sync.local(self)
                other.run(until="fetch_crypto_keys")
                other.download(["bookmarks"])
                seen["title"] = other.record("bookmarks", namespace["rid"])["title"]
            super().__exit__(*exc)

    import synctools

    # the block's own `from synctools import LocalStack` picks up the checking stack
    original, synctools.LocalStack = synctools.LocalStack, CheckedStack
    try:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    finally:
        synctools.LocalStack = original
    assert namespace["result"].status == "committed"
    assert [c.id for c in namespace["plan"].changes()] == [namespace["rid"]]
    assert len(namespace["visits"]) > 0
    assert seen["title"] == "Fixed"


def test_readme_and_cli_page_command_lines_are_real_commands():
    """Every `synctools` line of the README and of docs/cli.md parses with the real
    parser (a renamed option or command fails here), and every `make` target exists."""
    from synctools.cli import build_parser

    argvs = [a for b in readme_blocks("sh") for a in command_lines(b, ".venv/bin/synctools ")]
    cli_page = (DOCS / "cli.md").read_text("utf-8")
    argvs += [a for b in re.findall(r"```text\n(.*?)```", cli_page, flags=re.S) for a in command_lines(b, "synctools ")]
    assert len(argvs) >= 20
    parser = build_parser()
    for argv in argvs:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse exits on an unknown command or option
            raise AssertionError(f"`synctools {' '.join(argv)}` does not parse") from exc
        assert getattr(args, "func", None), argv
    makefile = (ROOT / "Makefile").read_text("utf-8")
    for block in readme_blocks("sh"):
        for target in re.findall(r"^make (\w+)", block, flags=re.M):
            assert re.search(rf"^{target}:", makefile, flags=re.M), f"README runs `make {target}`, not in the Makefile"


def test_readme_doctor_local_line_runs(capsys):
    """The one README command that needs no account and ends by itself, run for real."""
    from synctools.cli import main

    (argv,) = [a for b in readme_blocks("sh") for a in command_lines(b, ".venv/bin/synctools ") if a[:1] == ["doctor"] and "--local" in a]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "synctools doctor:" in out and "[ERROR] records.wrong-key" in out and "fix:" in out
