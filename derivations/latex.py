"""LaTeX export of derivations: numbered equations, each with its assumptions.

A family of sections that differ only by a variant (the mean field for each activation, loss and data law; the small
label noise for each data law) is written once: a step whose equation and assumptions are the same for every variant
is one numbered equation, a step that differs is its title and shared assumptions once and then one equation per
distinct result, tagged by the variants it belongs to. Equations too wide for the page are broken: a relation between
vectors (Matrix or Tuple) one component a row, a long sum term by term."""
from __future__ import annotations

import dataclasses
import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "^": r"\^{}", "&": r"\&", "%": r"\%", "$": r"\$",
                 "#": r"\#", "{": r"\{", "}": r"\}", "~": r"\~{}", "<": r"$<$", ">": r"$>$", "|": r"$|$"}


def escape_text(text: str) -> str:
    """Text for LaTeX: special characters escaped, except inside $...$, which is kept as inline mathematics."""
    parts = text.split("$")
    if len(parts) % 2 == 0:  # an unpaired $ is text, not mathematics
        parts = [text]
    return "".join(f"${part}$" if i % 2 else "".join(_TEXT_ESCAPES.get(ch, ch) for ch in part)
                   for i, part in enumerate(parts))


# ---------------------------------------------------------------------------------------------------------------
# Width of displayed mathematics, estimated from its LaTeX in points at 10pt (calibrated against pdflatex's boxes
# of this document's 175 equations: within about -20 % / +15 % of the true width for the wide ones).

_TOKEN = re.compile(r"\\(?:begin|end)\{[a-zA-Z*]+\}|\\[a-zA-Z]+|\\.|\s+|.")
_WORD_OPS = {"log", "exp", "sin", "cos", "tan", "tanh", "max", "min", "sup", "inf", "lim", "det", "arg", "ln"}
_GROUP_CMDS = {"operatorname": 0.85, "mathrm": 0.85, "text": 0.85, "mathbf": 1.0, "mathit": 1.0, "mathcal": 1.1,
               "boldsymbol": 1.0, "mathbb": 1.1, "mathsf": 0.85, "hat": 1.0, "bar": 1.0, "tilde": 1.0,
               "overline": 1.0, "dot": 1.0, "vec": 1.0}
_SPACES = {",": 1.7, ":": 2.2, ";": 2.8, "!": -1.7, " ": 3.3, "quad": 10.0, "qquad": 20.0}
_BIG = {"int": 11.0, "sum": 14.0, "prod": 14.0, "oint": 11.0, "iint": 18.0}


def _tokens(tex):
    return [t for t in _TOKEN.findall(tex) if not t.isspace()]


def estimated_width(tex: str) -> float:
    toks = _tokens(tex)
    width, _ = _seq(toks, 0, 1.0)
    return width


def _seq(toks, i, scale, stop="}"):
    total, limits = 0.0, False
    while i < len(toks) and toks[i] != stop:
        w, i, limits = _item(toks, i, scale, limits)
        total += w
    return total, i + 1


def _arg(toks, i, scale):
    """One argument: a {group} or a single token; returns (width, next index)."""
    if i >= len(toks):
        return 0.0, i
    if toks[i] == "{":
        return _seq(toks, i + 1, scale)
    w, i, _ = _item(toks, i, scale, False)
    return w, i


def _item(toks, i, scale, limits):
    t = toks[i]
    if t == "{":
        w, i = _seq(toks, i + 1, scale)
        return w, i, False
    if t in "^_":
        w, i = _arg(toks, i + 1, 0.7 * scale)
        if limits:  # stacked over/under a big operator
            return 0.0, i, True
        # a superscript and a subscript stack: count the wider one only (approximately: 60 % of the second)
        if i < len(toks) and toks[i] in "^_" and toks[i] != t:
            w2, i = _arg(toks, i + 1, 0.7 * scale)
            w = max(w, w2)
        return w, i, False
    if t.startswith("\\") and len(t) > 1:
        name = t[1:]
        if name in ("frac", "dfrac", "tfrac", "binom"):
            sub = scale if name != "tfrac" else 0.7 * scale
            w1, i = _arg(toks, i + 1, sub)
            w2, i = _arg(toks, i, sub)
            return max(w1, w2) + 2.4 * scale, i, False
        if name == "sqrt":
            i += 1
            if i < len(toks) and toks[i] == "[":
                while i < len(toks) and toks[i] != "]":
                    i += 1
                i += 1
            w, i = _arg(toks, i, scale)
            return w + 8.3 * scale, i, False
        if name in ("left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big"):
            d = toks[i + 1] if i + 1 < len(toks) else "."
            return (0.0 if d == "." else 4.5 * scale), i + 2, False
        if name in _GROUP_CMDS:
            w, i = _arg(toks, i + 1, scale)
            return w * _GROUP_CMDS[name] + (1.7 * scale if name == "operatorname" else 0.0), i, False
        if name.startswith("begin{"):
            return _environment(toks, i, scale) + (False,)
        if name in ("limits",):
            return 0.0, i + 1, True
        if name in ("nolimits", "displaystyle", "textstyle", "middle"):
            return 0.0, i + 1, limits
        if name in _SPACES:
            return _SPACES[name] * scale, i + 1, False
        if name in _BIG:
            return _BIG[name] * scale, i + 1, False
        if name in _WORD_OPS:
            return (4.6 * len(name) + 1.7) * scale, i + 1, False
        if name in ("cdot", "times", "pm", "mp"):
            return 12.0 * scale, i + 1, False
        if name in ("leq", "geq", "neq", "approx", "sim", "equiv", "to", "rightarrow", "mapsto", "propto"):
            return 13.4 * scale, i + 1, False
        if name in ("{", "}", "|"):
            return 5.0 * scale, i + 1, False
        return 6.0 * scale, i + 1, False
    if t in "+-":
        return (12.0 if scale == 1.0 else 7.8 * scale), i + 1, False
    if t in "=<>":
        return (13.4 if scale == 1.0 else 7.8 * scale), i + 1, False
    if t == ",":
        return 4.5 * scale, i + 1, False
    if t in "()[]":
        return 3.9 * scale, i + 1, False
    if t in "|'":
        return 2.8 * scale, i + 1, False
    if t.isdigit():
        return 5.0 * scale, i + 1, False
    if t in "&}":
        return 0.0, i + 1, False
    return 5.6 * scale, i + 1, False


def _environment(toks, i, scale):
    """An environment (matrix, aligned, ...): its widest row, cells side by side; plus a pmatrix's delimiters."""
    env = toks[i][len("\\begin{"):-1]
    j, depth, rows, cur = i + 1, 0, [], []
    while j < len(toks):
        t = toks[j]
        if t.startswith("\\begin{"):
            depth += 1
        elif t.startswith("\\end{"):
            if depth == 0:
                break
            depth -= 1
        if depth == 0 and t == "\\\\":
            rows.append(cur)
            cur = []
        elif not (depth == 0 and t == "&"):
            cur.append(t)
        j += 1
    rows.append(cur)
    width = max(_seq(row + ["}"], 0, scale)[0] for row in rows)
    return width + (9.0 * scale if env.endswith("matrix") and env != "matrix" else 0.0), j + 1


# The document's text is 704pt wide (landscape letter, 1.6cm margins); the equation number takes about 25pt. An
# equation estimated wider than _MAX_WIDTH is broken, into lines of at most _LINE_WIDTH (the estimate can be 20 % low).
_MAX_WIDTH = 560.0
_LINE_WIDTH = 500.0
_RELATIONS = {"==": "=", "!=": r"\neq", "<": "<", "<=": r"\leq", ">": ">", ">=": r"\geq"}
_PRINTER = LatexPrinter()


def _signed_terms(expr: sp.Add) -> list[str]:
    """The terms of a sum as sympy prints them, each with its sign ("+ t" / "- t"; the first bare). A term wider than
    a line that is a product with a sum in it (or the integral of one) comes in pieces, the sum term by term between
    fixed-size brackets: the lines may break between any two pieces."""
    out = []
    for i, term in enumerate(_PRINTER._as_ordered_terms(expr, order=None)):
        sign = ""
        if i and term.could_extract_minus_sign():
            sign, term = "- ", -term
        elif i:
            sign = "+ "
        tex = _PRINTER._print(term)
        if _PRINTER._needs_add_brackets(term):
            tex = r"\left(%s\right)" % tex
        pieces = _pieces(term) if estimated_width(tex) > _LINE_WIDTH else None
        if pieces:
            out += [sign + pieces[0]] + pieces[1:]
        else:
            out.append(sign + tex)
    return out


def _pieces(term) -> list[str] | None:
    """A wide product with a sum factor, ``c (t1 + t2 + ...)``, its integral, or a function of a sum, as pieces
    "c \\Biggl[ t1", "+ t2", ..., "+ tn \\Biggr]" (a wide term of the sum opened likewise); None where there is no
    such sum to open: the term is then left whole."""
    if isinstance(term, sp.Integral) and len(term.limits) == 1 and len(term.limits[0]) in (1, 3):
        inner = _pieces(term.function)
        if inner is None:
            return None
        limits = term.limits[0]
        head = r"\int" + (r"\limits_{%s}^{%s}" % (_PRINTER._print(limits[1]), _PRINTER._print(limits[2]))
                          if len(limits) == 3 else "")
        return [f"{head} {inner[0]}"] + inner[1:-1] + [r"%s\, d%s" % (inner[-1], _PRINTER._print(limits[0]))]
    if isinstance(term, sp.core.function.AppliedUndef) and len(term.args) == 1 and isinstance(term.args[0], sp.Add):
        terms = _signed_terms(term.args[0])  # f(t1 + t2 + ...), e.g. an expectation E(...)
        name = _PRINTER._print(sp.Symbol(term.func.__name__))
        return [name + r"\Biggl(" + terms[0]] + terms[1:-1] + [terms[-1] + r" \Biggr)"]
    factors = sp.Mul.make_args(term)
    sums = [f for f in factors if isinstance(f, sp.Add)]
    if not sums:
        return None
    widest = max(sums, key=lambda f: estimated_width(_PRINTER._print(f)))
    rest = sp.Mul(*[f for f in factors if f is not widest])
    terms = _signed_terms(widest)
    if len(terms) < 2:
        return None
    head = "" if rest == 1 else _PRINTER._print(rest) + " "
    return [head + r"\Biggl[" + terms[0]] + terms[1:-1] + [terms[-1] + r" \Biggr]"]


def _pack(terms: list[str], first_budget: float) -> list[str]:
    """Terms gathered greedily into lines: the first at most ``first_budget`` wide, the others _LINE_WIDTH."""
    lines, budget = [[]], first_budget
    for term in terms:
        if lines[-1] and estimated_width(" ".join(lines[-1] + [term])) > budget:
            lines.append([])
            budget = _LINE_WIDTH
        lines[-1].append(term)
    return [" ".join(line) for line in lines]


def _relation_rows(lhs, rel: str, rhs) -> list[str]:
    """Rows (aligned at the relation with &) of ``lhs rel rhs``: one row, or a long sum's terms over several."""
    lt, rt = _PRINTER._print(lhs), _PRINTER._print(rhs)
    if estimated_width(f"{lt} {rel} {rt}") <= _MAX_WIDTH:
        return [f"{lt} &{rel} {rt}"]
    if estimated_width(rt) >= estimated_width(lt):
        terms = _signed_terms(rhs) if isinstance(rhs, sp.Add) else _pieces(rhs)
        if terms:
            lines = _pack(terms, _LINE_WIDTH - estimated_width(f"{lt} {rel}"))
            return [f"{lt} &{rel} {lines[0]}"] + [r"&\quad {}%s" % line for line in lines[1:]]
    if isinstance(lhs, sp.Add):  # a long polynomial = 0: the relation ends the last line
        lines = _pack(_signed_terms(lhs), _LINE_WIDTH)
        if len(lines) > 1:
            return ([f"&{lines[0]}"] + [r"&\quad {}%s" % line for line in lines[1:-1]]
                    + [r"&\quad {}%s %s %s" % (lines[-1], rel, rt)])
    return [f"{lt} &{rel} {rt}"]  # no sum to break at: left as it is


def _components(side):
    """The components of a column or row vector (Matrix) or a Tuple; None for anything else."""
    if isinstance(side, sp.MatrixBase) and 1 in side.shape:
        return list(side)
    if isinstance(side, sp.Tuple):
        return list(side.args)
    return None


def _equation(expr) -> str:
    """The body of an ``equation`` environment for ``expr``, broken over lines where it would be too wide."""
    if isinstance(expr, sp.Eq):
        left, right = _components(expr.lhs), _components(expr.rhs)
        if left is not None and right is not None and len(left) == len(right) > 1:
            rows = [row for lhs, rhs in zip(left, right) for row in _relation_rows(lhs, "=", rhs)]
            return "\\begin{aligned}\n%s\n\\end{aligned}" % " \\\\\n".join(rows)
    if isinstance(expr, sp.core.relational.Relational) and expr.rel_op in _RELATIONS:
        rows = _relation_rows(expr.lhs, _RELATIONS[expr.rel_op], expr.rhs)
        if len(rows) > 1:
            return "\\begin{split}\n%s\n\\end{split}" % " \\\\\n".join(rows)
        return sp.latex(expr)
    tex = sp.latex(expr)
    if isinstance(expr, sp.Add) and estimated_width(tex) > _MAX_WIDTH:
        lines = _pack(_signed_terms(expr), _LINE_WIDTH)
        return "\\begin{split}\n%s\n\\end{split}" % " \\\\\n".join(
            [f"&{lines[0]}"] + [r"&\quad {}%s" % line for line in lines[1:]])
    return tex


# ---------------------------------------------------------------------------------------------------------------
# Sections


def _capitalized(title: str) -> str:
    return title[0].upper() + title[1:]


def _step_lines(step, label: str) -> list[str]:
    lines = [r"\paragraph{%s.}" % escape_text(_capitalized(step.title)),
             r"\begin{equation}\label{eq:%s:%s}" % (label, step.key), _equation(step.equation), r"\end{equation}"]
    if step.assumptions:
        lines.append(r"\noindent\emph{Assumptions:} %s" % escape_text(step.assumptions))
    return lines


def steps_section(title: str, label: str, steps) -> str:
    """A section with one numbered equation per step and its assumptions."""
    lines = [r"\section{%s}" % escape_text(title)]
    for step in steps:
        lines += _step_lines(step, label)
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One member of a family of sections: the names that tell it apart, e.g. (("activation", "relu"), ("loss",
    "hinge"), ("data", "gaussian")), the prefix of its own equations' labels, its steps."""
    names: tuple[tuple[str, str], ...]
    label: str
    steps: tuple


@dataclasses.dataclass(frozen=True)
class Family:
    """Sections that differ by a variant only, written as one: ``title`` (its "{variants}" replaced by what the
    variants are), ``label`` the prefix of the equations every variant shares, ``intro`` LaTeX after the heading."""
    title: str
    label: str
    variants: tuple[Variant, ...]
    intro: str = ""


_PLURALS = {"activation": " activations", "loss": " losses", "data": " data"}


def _joined(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def _described(dimension: str, values: list[str], plural: bool) -> str:
    suffix = " data" if dimension == "data" else (_PLURALS.get(dimension, "") if plural else "")
    return _joined(values) + suffix


def _values(variants, dimension: str) -> list[str]:
    return list(dict.fromkeys(dict(v.names)[dimension] for v in variants))


def _family_title(family: Family) -> str:
    dims = [d for d, _ in family.variants[0].names]
    values = {d: _values(family.variants, d) for d in dims}
    lists = any(len(v) > 2 for v in values.values())  # "a, b and c": the names are then set apart by ";"
    text = ("; " if lists else ", ").join(_described(d, values[d], len(values[d]) > 1) for d in dims)
    return family.title.replace("{variants}", text)


def _tag(group, family: Family) -> str:
    """What a group of variants is, by the names that vary in the family: "hinge, gaussian data"."""
    dims = [d for d, _ in family.variants[0].names]
    varying = [d for d in dims if len(_values(family.variants, d)) > 1]
    values = {d: _values(group, d) for d in varying}
    product = 1
    for d in varying:
        product *= len(values[d])
    if product == len(group):  # every combination of its names: described name by name
        parts = [_described(d, values[d], False) for d in varying if len(values[d]) < len(_values(family.variants, d))]
        return ", ".join(parts) or "every variant"
    return "; ".join(", ".join(_described(d, [dict(v.names)[d]], False) for d in varying) for v in group)


def _merged_keys(variants) -> list[str]:
    """Every step key once, in the variants' order (a key some variants lack goes after its predecessor)."""
    keys: list[str] = []
    for v in variants:
        previous = None
        for step in v.steps:
            if step.key not in keys:
                keys.insert(keys.index(previous) + 1 if previous is not None else len(keys), step.key)
            previous = step.key
    return keys


def family_section(family: Family) -> str:
    """One section for a family: shared steps once, the others once per distinct result, tagged by variant."""
    variants = family.variants
    # a family of one keeps its variant's labels
    shared_label = variants[0].label if len(variants) == 1 else family.label
    lines = [r"\section{%s}" % escape_text(_family_title(family))]
    if family.intro:
        lines.append(family.intro)
    by_key = [{s.key: s for s in v.steps} for v in variants]
    for key in _merged_keys(variants):
        members = [(v, steps[key]) for v, steps in zip(variants, by_key) if key in steps]
        groups: dict[tuple, list] = {}
        for v, step in members:
            groups.setdefault((sp.srepr(step.equation), step.assumptions, step.title), []).append((v, step))
        if len(groups) == 1 and len(members) == len(variants):
            lines += _step_lines(members[0][1], shared_label)
            continue
        titles = list(dict.fromkeys(step.title for _, step in members))
        assumptions = list(dict.fromkeys(step.assumptions for _, step in members))
        lines.append(r"\paragraph{%s.}" % escape_text(_capitalized(titles[0])))
        if len(assumptions) == 1 and assumptions[0]:
            lines.append(r"\emph{Assumptions:} %s" % escape_text(assumptions[0]))
        else:
            lines.append(r"\leavevmode")  # the variants' equations under the heading, not run into it
        # the results by their assumptions: assumptions shared by several results are written once, after them
        by_assumptions: dict[str, list] = {}
        for group in groups.values():
            by_assumptions.setdefault(group[0][1].assumptions, []).append(group)
        for text, results in by_assumptions.items():
            for group in results:
                v, step = group[0]
                tag = _tag([g for g, _ in group], family)
                if step.title != titles[0]:
                    tag += f" ({step.title})"
                lines += [r"\par\noindent\textit{%s:}" % escape_text(tag),
                          r"\begin{equation}\label{eq:%s:%s}" % (v.label, key), _equation(step.equation),
                          r"\end{equation}"]
            if len(assumptions) > 1 and text:
                scope = "" if len(results) == 1 else \
                    " (%s)" % _tag([g for group in results for g, _ in group], family)
                lines.append(r"\noindent\emph{Assumptions%s:} %s" % (escape_text(scope), escape_text(text)))
    return "\n".join(lines)


def _conditions_lines(conditions) -> list[str]:
    lines = [r"\begin{itemize}"]
    for cnd in conditions:
        mark = "holds" if cnd.holds else "fails"
        lines.append(r"\item %s: %s (%s)." % (escape_text(cnd.latex_name or cnd.name), mark, escape_text(cnd.latex or cnd.detail)))
    return lines + [r"\end{itemize}"]


def meanfield_family(derivations) -> Family:
    """The mean-field derivations as one family; the reduction conditions (the activation's) once per activation."""
    intro, by_activation = [], {}
    for D in derivations:
        by_activation.setdefault(D.activation.name, {}).setdefault(tuple(D.conditions), D)
    for name, distinct in by_activation.items():
        for conditions in distinct:
            heading = "Reduction conditions" + (f", {name}" if len(by_activation) > 1 else "")
            intro += [r"\paragraph{%s.}" % escape_text(heading)] + _conditions_lines(conditions)
    variants = tuple(Variant((("activation", D.activation.name), ("loss", D.loss.name), ("data", D.data.name)),
                             f"{D.data.name}:{D.loss.name}:{D.activation.name}", tuple(D.steps))
                     for D in derivations)
    return Family("Mean-field derivation, {variants}", "meanfield", variants, "\n".join(intro))


def derivation_body(derivation, standalone: bool = True) -> str:
    """The equations of one derivation as LaTeX (a section when ``standalone``, else Jupyter-friendly)."""
    D = derivation
    if standalone:
        return family_section(meanfield_family([D]))
    title = f"{D.activation.name}, {D.loss.name} loss, {D.data.name} data"
    lines = [r"\textbf{%s}\\" % escape_text(title)]
    for step in D.steps:
        lines.append(r"%s:\quad %s\\" % (escape_text(step.title), sp.latex(step.equation)))
    return "\n".join(lines)


PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[margin=1.6cm,landscape]{geometry}
\usepackage{amsmath,amssymb}
\allowdisplaybreaks
\title{mftheory: mean-field equations of shallow networks trained with margin losses}
\author{generated by \texttt{mftheory latex}}
\begin{document}
\maketitle
\noindent Conventions: $f(x) = \frac{\alpha}{M}\sum_i a_i\,\sigma(w_i\cdot x/\sqrt{d})$, full-batch gradient descent
with learning rate $\eta$ on the mean loss, per-node rate $\beta = \eta\alpha/M$, time in GD steps, teacher $w^*$,
$y = \mathrm{sign}(x_\parallel)$, a fraction $\epsilon$ of training labels flipped, init
$a \sim \mathcal{N}(0,\sigma_a^2)$, $w \sim \mathcal{N}(0,\sigma_w^2 I_d)$. $|x| = |x_\parallel|$ in data averages.
Heaviside$(0) = 0$: an example with $y f = h$ is satisfied.
"""


def _activation_family(title: str, label: str, derivations) -> Family:
    return Family(title, label, tuple(Variant((("activation", F.activation.name),), f"{label}:{F.activation.name}",
                                              tuple(F.steps)) for F in derivations))


def document(derivations, finite_width=(), finite_sample=(), extra_sections=()) -> str:
    """A standalone LaTeX document with every equation of every derivation given: the mean-field derivations as one
    section, then the finite-width, finite-sample ones (one section for all activations), then ``extra_sections``:
    (title, label prefix, steps) triples or ``Family``s."""
    sections = []
    if derivations:
        sections.append(family_section(meanfield_family(derivations)))
    if finite_width:
        sections.append(family_section(_activation_family("Finite width M, {variants}, gaussian data (frozen init law)",
                                                          "finite_width", finite_width)))
    if finite_sample:
        sections.append(family_section(_activation_family("Finite sample N, {variants}, gaussian data (memorization)",
                                                          "finite_sample", finite_sample)))
    for extra in extra_sections:
        sections.append(family_section(extra) if isinstance(extra, Family) else steps_section(*extra))
    return PREAMBLE + "\n" + "\n\n".join(sections) + "\n\\end{document}\n"
