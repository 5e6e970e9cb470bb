#!/usr/bin/env python3
"""Doxygen INPUT_FILTER for krait.h and krait.hpp (docs/Doxyfile): turns their plain comments into
documentation comments, so the headers stay written as they are (plain C comments, sqlite3.h style: the
header is the documentation) and Doxygen still documents every declaration with the comment above it.

    python3 docs/api/doxygen_filter.py FILE      -> the filtered FILE on stdout (same lines, same line numbers)

At namespace, class, struct and enum scope (never inside function bodies):
  * the file's first comment becomes the file's description (\\file);
  * a comment on its own line(s) right above a declaration becomes its documentation (/** ... */, ///);
  * a comment after a member, enumerator or declaration on the same line documents it (/**< ... */, ///<);
  * krait.h only: each banner (/* ==== */ Title /* ==== */, or /* ---- Title ---- */) opens a member group
    named Title (\\name ... @{ ... @}), and the free-standing comment right after a banner, if any, becomes
    that group's description;
  * banners, comments before a closing brace or a preprocessor line stay plain comments.
In the converted comments, characters Doxygen would read as commands or HTML (\\ < > @ & # $ %) are escaped
outside `code spans`, so the text renders as written.
"""

from __future__ import annotations

import re
import sys

DECL_SCOPE = re.compile(r"\b(namespace|class|struct|enum|union)\b[^;(){}]*$|extern\s+\"C\"\s*$")
BANNER_RULE = re.compile(r"^\s*/\* =+ \*/\s*$")
BANNER_TITLE = re.compile(r"^\s*/\* (\S.*?)\s*\*/\s*$")
BANNER_DASH = re.compile(r"^\s*/\* -{2,} (.*?) -+ \*/\s*$")
ESCAPE = re.compile(r"([\\<>@&#$%])")


def escape_text(text: str) -> str:
    """Escapes Doxygen's special characters outside `code spans`, "quoted strings" and indented code blocks
    (lines indented 5+ spaces after the comment's `**` after a blank line), which Doxygen prints verbatim."""
    out = []
    code = False
    blank = True
    for line in text.split("\n"):
        m = re.match(r"(\s*\**)( *)(.*)", line)
        body = m.group(3)
        code = bool(body) and len(m.group(2)) >= 5 and (blank or code)
        blank = not body
        if code:
            out.append(line)
            continue
        # `code spans` and "quoted strings" (on one line) are printed as written: escape outside them only
        parts = re.split(r'(`[^`]*`|"[^"\n]*")', line)
        for i in range(0, len(parts), 2):
            parts[i] = ESCAPE.sub(r"\\\1", parts[i])
        out.append("".join(parts))
    return "\n".join(out)


def scan(src: str):
    """Yields (kind, start, end, in_decl_scope, depth) for each comment ("block"/"line") and each brace
    ("{"/"}"), skipping strings, character literals and comments' contents."""
    stack: list[bool] = []  # per open brace: is it a declaration scope?
    stmt_start = 0          # start of the current statement (text since the last ; { or })
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            yield "block", i, j, all(stack), len(stack)
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            yield "line", i, j, all(stack), len(stack)
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            i = j + 1
        elif c == "#" and src[src.rfind("\n", 0, i) + 1:i].strip() == "":
            j = i  # a preprocessor line (with its continuations) is not part of any statement
            while True:
                j = src.find("\n", j)
                if j < 0 or src[j - 1] != "\\":
                    break
                j += 1
            i = n if j < 0 else j
            stmt_start = i
        elif c == "{":
            head = re.sub(r"/\*.*?\*/|//[^\n]*", " ", src[stmt_start:i], flags=re.S).strip()
            stack.append(bool(DECL_SCOPE.search(head)))
            yield "{", i, i + 1, all(stack), len(stack)
            i += 1
            stmt_start = i
        elif c == "}":
            yield "}", i, i + 1, all(stack), len(stack)
            if stack:
                stack.pop()
            i += 1
            stmt_start = i
        elif c == ";":
            i += 1
            stmt_start = i
        else:
            i += 1


def filter_source(src: str, c_groups: bool) -> str:
    events = list(scan(src))
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement), applied back to front

    def line_of(pos: int) -> tuple[int, int]:
        a = src.rfind("\n", 0, pos) + 1
        b = src.find("\n", pos)
        return a, (len(src) if b < 0 else b)

    def next_code(pos: int):
        """(text of the next non-comment code, whether a blank line comes before it or before the next comment)."""
        k = pos
        while True:
            m = re.compile(r"\s*").match(src, k)
            gap = m.group(0)
            k = m.end()
            if gap.count("\n") >= 2:
                return src[k:k + 40], True
            if src.startswith("/*", k) or src.startswith("//", k):
                return src[k:k + 40], False
            return src[k:k + 40], False

    first_comment = True
    group_open_depth = None  # brace depth the open member group lives at
    pending_title = None     # the title of the banner being read
    section_at: dict[int, str] = {}  # start of a section text comment -> its banner's title
    banner_state = 0         # inside a ==== Title ==== triple: 1 after the first rule, 2 after the title
    for idx, (kind, start, end, decl, depth) in enumerate(events):
        if kind == "}":
            # (krait.h's only braces are extern "C"'s, inside #ifdef __cplusplus, which Doxygen skips:
            # its groups close at the end of the file instead.)
            if not c_groups and group_open_depth is not None and depth == group_open_depth:
                edits.append((start, start, "/** @} */ "))
                group_open_depth = None
            continue
        if kind == "{" or not decl:
            continue
        text = src[start:end]
        a, b = line_of(start)
        own_line = src[a:start].strip() == ""
        if kind == "block" and text.startswith("/**") or kind == "line" and text.startswith("///"):
            first_comment = False
            continue  # already a doc comment

        if kind == "block" and first_comment:
            first_comment = False
            edits.append((start, start + 2, "/** \\file"))
            edits.append((start + 2, end - 2, escape_text(text[2:-2])))
            continue
        first_comment = False

        if c_groups and kind == "block" and own_line:
            dash = BANNER_DASH.match(src[a:b])
            if BANNER_RULE.match(src[a:b]):
                if banner_state == 0:  # the first rule of a triple
                    if group_open_depth is not None:
                        edits.append((start, start, "/** @} */ "))
                        group_open_depth = None
                    banner_state = 1
                else:                  # the closing rule
                    banner_state = 0
                    section_follows(edits, src, end, pending_title, section_at, next_code)
                    group_open_depth = depth
                continue
            if banner_state == 1:
                pending_title = BANNER_TITLE.match(src[a:b]).group(1)
                banner_state = 2
                continue
            if dash:
                if group_open_depth is not None:
                    edits.append((start, start, "/** @} */ "))
                pending_title = dash.group(1)
                section_follows(edits, src, end, pending_title, section_at, next_code)
                group_open_depth = depth
                continue
            if section_at.get(start) is not None:
                # the section text right after a banner: the group's description
                edits.append((start, start + 2, "/** \\name " + section_at.pop(start)))
                edits.append((start + 2, end - 2, escape_text(text[2:-2])))
                edits.append((end, end, " /** @{ */"))
                continue

        if kind == "block" and own_line and (BANNER_RULE.match(src[a:b]) or BANNER_DASH.match(src[a:b])):
            continue  # a section banner stays a plain comment
        following, blank = next_code(end)
        if not own_line:
            before = src[a:start].rstrip()
            if before and before[-1] in ";,)" or re.search(r"\w$", before):
                if kind == "line":
                    edits.append((start, start + 2, "///<"))
                    edits.append((start + 2, end, escape_text(text[2:])))
                else:
                    edits.append((start, start + 2, "/**<"))
                    edits.append((start + 2, end - 2, escape_text(text[2:-2])))
            continue
        if following.startswith(("}", "#")) or following == "":
            continue
        if kind == "line":
            edits.append((start, start + 2, "///"))
            edits.append((start + 2, end, escape_text(text[2:])))
        else:
            edits.append((start, start + 2, "/**"))
            edits.append((start + 2, end - 2, escape_text(text[2:-2])))

    if group_open_depth is not None:
        edits.append((len(src), len(src), "\n/** @} */\n"))

    out = src
    for s, e, r in sorted(edits, key=lambda t: (t[0], t[1]), reverse=True):
        out = out[:s] + r + out[e:]
    return out


def is_section_text(src: str, end: int, next_code) -> bool:
    """A comment after a banner is the section's text when a blank line (or another comment) follows it."""
    _following, blank = next_code(end)
    return blank or src[end:].lstrip().startswith("/*")


def section_follows(edits, src, end, title, section_at, next_code):
    """After a banner: the section text right after it opens the group (noted in section_at); if there is
    none, the banner line itself does."""
    k = end
    m = re.compile(r"\s*").match(src, k)
    nxt = m.end()
    gap = m.group(0)
    if src.startswith("/*", nxt) and gap.count("\n") == 1 and not BANNER_RULE.match(src[nxt:src.find("\n", nxt)]):
        c_end = src.find("*/", nxt) + 2
        if is_section_text(src, c_end, next_code):
            section_at[nxt] = title  # the section text will carry \name and @{
            return
    edits.append((end, end, f" /** \\name {title} */ /** @{{ */"))


def main() -> None:
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        src = f.read()
    sys.stdout.write(filter_source(src, c_groups=path.endswith(".h")))


if __name__ == "__main__":
    main()
