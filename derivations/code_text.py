"""The code of a derivation source without its comments and docstrings: what the kernel and derivation keys hash.

Keying on this text rather than on the file's bytes means that rewording a comment or a docstring, or adding
blank lines, leaves every generated kernel and cached derivation valid, while any change to the code itself
re-keys. Positions come from ``tokenize`` (comments) and ``ast`` (docstrings), which agree across the Python
releases the package supports, so the same source gives the same text on every interpreter.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import io
import pathlib
import tokenize

_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _docstring_spans(tree: ast.AST):
    """(start, end) of every docstring as ((line, utf-8 byte column), (line, utf-8 byte column))."""
    for node in ast.walk(tree):
        if isinstance(node, _DOCUMENTED) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                yield (first.lineno, first.col_offset), (first.end_lineno, first.end_col_offset)


def code_text(source: str) -> str:
    """``source`` with comments and docstrings removed, trailing spaces stripped and blank lines dropped."""
    lines = [line.encode() for line in source.splitlines(keepends=True)]
    spans = list(_docstring_spans(ast.parse(source)))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            (row, col), (end_row, end_col) = token.start, token.end
            text = source.splitlines(keepends=True)[row - 1]
            # tokenize counts characters, ast counts UTF-8 bytes: convert to bytes
            spans.append(((row, len(text[:col].encode())), (end_row, len(text[:end_col].encode()))))
    for (row, col), (end_row, end_col) in sorted(spans, reverse=True):
        head, tail = lines[row - 1][:col], lines[end_row - 1][end_col:]
        lines[row - 1:end_row] = [head + tail]
    kept = (line.rstrip() for line in b"".join(lines).decode().splitlines())
    return "\n".join(line for line in kept if line.strip()) + "\n"


def file_code_text(path: pathlib.Path) -> str:
    """:func:`code_text` of the file at ``path`` (recomputed only when the file changes)."""
    path = pathlib.Path(path)
    stat = path.stat()
    return _cached_code_text(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _cached_code_text(path: pathlib.Path, mtime_ns: int, size: int) -> str:
    return code_text(path.read_text(encoding="utf-8"))


def sources_key(sources, settings: str) -> str:
    """sha256 over the code text of ``sources`` (paths relative to the derivations folder) and a generator's
    ``settings``: the key of a generated module, compared by ``mftheory derive``."""
    digest = hashlib.sha256()
    here = pathlib.Path(__file__).parent
    for name in sources:
        digest.update(file_code_text(here / name).encode())
    digest.update(settings.encode())
    return digest.hexdigest()
