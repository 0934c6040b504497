"""Benefit formulas: a small fixed vocabulary of JSON trees, checked and evaluated in Decimal.

A scheme-rules table states a pension or lump-sum formula as a tree that any verifier can
read and recompute exactly, with no code run from the table (no ``eval``)::

    {"num": "0.20"}                 a decimal constant (a string, never a JSON number)
    {"var": "average_earnings"}     a variable the caller provides (``VARIABLES``)
    {"param": "accrual_rate"}       another parameter of the same branch, at the same date
    {"add": [a, b, …]}  {"mul": [a, b, …]}  {"min": [a, b, …]}  {"max": [a, b, …]}
    {"sub": [a, b]}  {"div": [a, b]}
    {"floor": x}                    the integer part (rounded down)
    {"if": [cond, then, else]}      cond is {"ge"|"gt"|"le"|"lt": [a, b]}

Example (Thailand's old-age pension: 20 % of the average wage, plus 1.5 % per year of
contributions beyond 15 years)::

    {"mul": [{"var": "average_earnings"},
             {"add": [{"num": "0.20"},
                      {"mul": [{"num": "0.015"},
                               {"max": [{"num": "0"}, {"sub": [{"var": "years"},
                                                               {"num": "15"}]}]}]}]}]}

Every value is a ``Decimal``; the evaluator never touches a float.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from decimal import ROUND_FLOOR, Decimal, InvalidOperation, localcontext
from typing import Any

from pel.ledger.errors import FormulaError

#: What the decision engine provides to a formula (shared design, issue 19).
VARIABLES: frozenset[str] = frozenset(
    {
        "months",
        "years",
        "average_earnings",
        "total_earnings",
        "contributions_employee",
        "contributions_total",
    }
)
_NARY = frozenset({"add", "mul", "min", "max"})
_BINARY = frozenset({"sub", "div"})
_COMPARE = {
    "ge": Decimal.__ge__,
    "gt": Decimal.__gt__,
    "le": Decimal.__le__,
    "lt": Decimal.__lt__,
}
OPERATIONS: frozenset[str] = frozenset(
    {"num", "var", "param", "floor", "if", *_NARY, *_BINARY, *_COMPARE}
)
_NUMBER = re.compile(r"-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,12})?")
#: Deep enough for any scheme's formula, shallow enough that no table can exhaust the stack.
MAX_DEPTH = 32
MAX_NODES = 500


def _fail(message: str, path: str) -> FormulaError:
    return FormulaError(f"{path}: {message}" if path else message, path=path)


def _op(node: object, path: str) -> tuple[str, Any]:
    if not isinstance(node, dict) or len(node) != 1:
        raise _fail(
            'a formula node is an object with exactly one operation, e.g. {"num": "0.20"}',
            path,
        )
    ((op, arg),) = node.items()
    if op not in OPERATIONS:
        raise _fail(f"unknown operation {op!r}; known: {', '.join(sorted(OPERATIONS))}", path)
    return op, arg


def check_formula(
    tree: object, *, params: Collection[str] | None = None, path: str = ""
) -> set[str]:
    """Check a formula tree without evaluating it.

    Args:
        tree: The decoded JSON tree.
        params: The parameter names the formula may refer to (None: any).
        path: Where the tree sits, for error messages (``…values[0].value``).

    Returns:
        The parameter names the formula refers to.

    Raises:
        FormulaError: with ``path`` pointing at the offending node.
    """
    used: set[str] = set()
    count = 0

    def walk(node: object, where: str, depth: int, want_condition: bool) -> None:
        nonlocal count
        count += 1
        if depth > MAX_DEPTH or count > MAX_NODES:
            raise _fail(f"a formula is at most {MAX_DEPTH} deep and {MAX_NODES} nodes", where)
        op, arg = _op(node, where)
        if want_condition != (op in _COMPARE):
            raise _fail(
                "a condition (ge, gt, le, lt) is expected here"
                if want_condition
                else f"{op!r} is a condition; only 'if' takes one",
                where,
            )
        here = f"{where}.{op}" if where else op
        if op == "num":
            if not isinstance(arg, str) or not _NUMBER.fullmatch(arg):
                raise _fail('a number is a decimal string such as "0.015"', here)
        elif op == "var":
            if arg not in VARIABLES:
                raise _fail(
                    f"unknown variable {arg!r}; known: {', '.join(sorted(VARIABLES))}", here
                )
        elif op == "param":
            if not isinstance(arg, str) or (params is not None and arg not in params):
                raise _fail(f"unknown parameter {arg!r} (not in this branch)", here)
            used.add(arg)
        elif op == "floor":
            walk(arg, here, depth + 1, False)
        else:
            size = 3 if op == "if" else 2 if op in _BINARY or op in _COMPARE else None
            if not isinstance(arg, list) or (size is not None and len(arg) != size) or not arg:
                want = f"exactly {size}" if size else "at least one"
                raise _fail(f"{op!r} takes a list of {want} operands", here)
            for i, sub in enumerate(arg):
                walk(sub, f"{here}[{i}]", depth + 1, op == "if" and i == 0)

    walk(tree, path, 0, False)
    return used


def evaluate(
    tree: Mapping[str, Any],
    variables: Mapping[str, Decimal],
    params: Callable[[str], Decimal] | Mapping[str, Decimal] | None = None,
    *,
    checked: bool = False,
) -> Decimal:
    """The value of a formula.

    Args:
        tree: A formula tree (checked as it is evaluated).
        variables: Values of the variables the formula uses, as ``Decimal``.
        params: The branch's other parameters at the decision date: a mapping or a
            function of the name (e.g. ``lambda n: param_at(…, n, at).value``).
        checked: The tree already passed :func:`check_formula` (a parsed rules table's
            formulas did): it is not walked twice.

    Raises:
        FormulaError: an unknown operation, variable or parameter, a variable not
            given, a float given, or a division by zero.
    """
    if not checked:
        check_formula(tree)

    def param(name: str) -> Decimal:
        if params is None:
            raise FormulaError(f"parameter {name!r} is not available")
        try:
            value = params(name) if callable(params) else params[name]
        except KeyError:
            raise FormulaError(f"parameter {name!r} is not available") from None
        return _decimal(value, f"parameter {name!r}")

    def ev(node: Any) -> Any:
        ((op, arg),) = node.items()
        if op == "num":
            return Decimal(arg)
        if op == "var":
            if arg not in variables:
                raise FormulaError(f"variable {arg!r} is not given")
            return _decimal(variables[arg], f"variable {arg!r}")
        if op == "param":
            return param(arg)
        if op == "floor":
            return ev(arg).to_integral_value(rounding=ROUND_FLOOR)
        if op == "if":
            return ev(arg[1]) if ev(arg[0]) else ev(arg[2])
        values = [ev(a) for a in arg]
        if op in _COMPARE:
            return _COMPARE[op](values[0], values[1])
        if op == "add":
            return sum(values, Decimal(0))
        if op == "mul":
            out = Decimal(1)
            for v in values:
                out *= v
            return out
        if op == "min":
            return min(values)
        if op == "max":
            return max(values)
        if op == "sub":
            return values[0] - values[1]
        if values[1] == 0:
            raise FormulaError("division by zero")
        return values[0] / values[1]

    with localcontext() as ctx:
        ctx.prec = 34  # decimal128: exact for any amount a scheme pays
        try:
            return ev(tree)  # type: ignore[no-any-return]
        except InvalidOperation:
            raise FormulaError("the formula has no decimal value for these inputs") from None


_SYMBOLS = {
    "add": " + ",
    "sub": " - ",
    "mul": " * ",
    "div": " / ",
    "ge": " >= ",
    "gt": " > ",
    "le": " <= ",
    "lt": " < ",
}


def formula_text(tree: Mapping[str, Any]) -> str:
    """A formula written for people: ``average_earnings * (0.20 + 0.015 * max(0, years - 15))``.

    Only for display; the tree is what is signed and evaluated.
    """

    def text(node: Any, top: bool = False) -> str:
        ((op, arg),) = node.items()
        if op in ("num", "var"):
            return str(arg)
        if op == "param":
            return f"[{arg}]"
        if op == "floor":
            return f"floor({text(arg, True)})"
        if op in ("min", "max"):
            return f"{op}({', '.join(text(a, True) for a in arg)})"
        if op == "if":
            return f"if {text(arg[0], True)} then {text(arg[1], True)} else {text(arg[2], True)}"
        inner = _SYMBOLS[op].join(text(a) for a in arg)
        return inner if top else f"({inner})"

    return text(tree, True)


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise FormulaError(f"{what} must be a Decimal (or an int), not {type(value).__name__}")
    return Decimal(value)


__all__ = ["MAX_DEPTH", "OPERATIONS", "VARIABLES", "check_formula", "evaluate", "formula_text"]
