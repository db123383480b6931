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
