"""A CPU-time and size budget for untrusted template code (editor theme overrides).

Jinja's sandbox stops templates from reaching Python internals, not from spending: one
``{{ 9**(9**9) }}``, ``{{ 'x' * 300000000 }}`` or two nested ``range(100000)`` loops hang a
render or exhaust memory. Every render runs under a budget (see docs/architecture.md,
"Template budget"):

* **CPU time**: ``cpu_budget(seconds)`` arms ``ITIMER_PROF`` (process CPU time, checked
  against the rendering thread's own: ``time.thread_time``) and its ``SIGPROF`` handler
  raises ``BudgetExceeded`` in the rendering code. Signals are only delivered to the main
  thread, where Lambda runs handlers; elsewhere (a test's worker thread) the same deadline
  is checked at every call, operator and output chunk a template makes.
  Budgets nest: an inner one never outlives the outer one.
* **Size**: a signal cannot interrupt one long C operation, so the operations that can make a
  large value from small ones are checked *before* they run (``BudgetedSandbox``): ``*``,
  ``**``, ``+``, ``%``, ``~``, string methods and filters that pad, repeat, join or replace,
  and every concatenation of output (page, macro, block) is counted as it is joined. Any text
  or sequence a template makes is at most ``MAX_TEXT`` characters / ``MAX_ITEMS`` items, and a
  number at most ``MAX_INT_BITS`` bits.

Pure (no AWS); ``render.Theme`` uses it for every page.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, soft_str

__all__ = [
    "CHECK_SECONDS",
    "MAX_INT_BITS",
    "MAX_ITEMS",
    "MAX_TEXT",
    "RENDER_SECONDS",
    "BudgetExceeded",
    "BudgetedSandbox",
    "cpu_budget",
]

# CPU seconds one page may take (a normal page takes a few milliseconds), and all the pages
# rendered to check an upload together.
RENDER_SECONDS = 1.0
CHECK_SECONDS = 2.0
# The largest text (characters; a page, or any value a template makes), sequence (items) and
# integer (bits) a template may make. A page of the largest article (1 MiB of Markdown) is a
# few MiB.
MAX_TEXT = 16 * 2**20
MAX_ITEMS = 1_000_000
MAX_INT_BITS = 4096
# Text and items one render may make in all (checked values and buffered output, counted as
# made, never as freed): a loop making many values each under MAX_TEXT stops here.
MAX_MADE = 64 * 2**20

_DIGITS = re.compile(r"\d+")


class BudgetExceeded(Exception):
    """A render went over its CPU time or size budget."""


class _State(threading.local):
    # CPU time of this thread (time.thread_time) the render must end by: other threads' work
    # (a pool writing search files, moto in tests) is not the template's.
    deadline: float | None = None
    polled: float | None = None  # the deadline when no timer enforces it (checked by hooks)
    made: int = 0  # characters/items made under the current budget (see MAX_MADE)


_state = _State()
_MAIN = threading.main_thread()


def _expired() -> None:
    raise BudgetExceeded("took more than its CPU time budget")


def _on_timer(signum: int, frame: object) -> None:
    if _state.deadline is None:
        return
    # ITIMER_PROF counts the whole process's CPU time: when other threads spent part of it,
    # wait for the rest of this thread's budget.
    left = _state.deadline - time.thread_time()
    if left > 0.001:
        signal.setitimer(signal.ITIMER_PROF, left)
        return
    # Fire again shortly, should the template code swallow this one.
    signal.setitimer(signal.ITIMER_PROF, 0.05)
    _expired()


def check_time() -> None:
    """Raise when the current budget's deadline has passed (hooks call it; cheap)."""
    deadline = _state.polled
    if deadline is not None and time.thread_time() > deadline:
        _expired()


@contextlib.contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Run the block under a CPU-time budget (nested budgets: the earliest deadline wins)."""
    outer = _state.deadline
    now = time.thread_time()
    deadline = now + seconds if outer is None else min(outer, now + seconds)
    use_timer = threading.current_thread() is _MAIN and hasattr(signal, "setitimer")
    previous_handler = None
    if use_timer and outer is None:
        previous_handler = signal.signal(signal.SIGPROF, _on_timer)
    _state.deadline = deadline
    outer_polled, _state.polled = _state.polled, (None if use_timer else deadline)
    outer_made, _state.made = _state.made, 0
    try:
        if use_timer:
            signal.setitimer(signal.ITIMER_PROF, max(deadline - now, 0.001))
        yield
    finally:
        if use_timer:
            signal.setitimer(signal.ITIMER_PROF, 0)
        _state.deadline = outer
        _state.polled = outer_polled
        _state.made += outer_made
        if use_timer and outer is not None:
            # Back to the outer budget's remaining time (fires at once if it has run out).
            signal.setitimer(signal.ITIMER_PROF, max(outer - time.thread_time(), 0.001))
        elif use_timer and previous_handler is not None:  # None: installed outside Python
            signal.signal(signal.SIGPROF, previous_handler)


# -- sizes ------------------------------------------------------------------------------------


def _too_big(what: str) -> BudgetExceeded:
    return BudgetExceeded(f"{what} would exceed the template size budget")


def _size(value: Any) -> int:
    """Characters of a text, items of a sequence, 0 for anything else."""
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(value)
    return 0


def _made(size: int) -> None:
    _state.made += size
    if _state.made > MAX_MADE:
        raise BudgetExceeded("made more text than its size budget allows")


def check_value(value: Any, made: bool = True) -> Any:
    """``value`` if within the size budget, else BudgetExceeded; ``made``: a new value (counted
    towards MAX_MADE)."""
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_TEXT:
            raise _too_big("a text")
        if made:
            _made(len(value))
    elif isinstance(value, (list, tuple, dict, set, frozenset)):
        if len(value) > MAX_ITEMS:
            raise _too_big("a sequence")
        if made:
            _made(len(value))
    elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _too_big("a number")
    return value


def _limit(value: Any) -> int:
    return MAX_TEXT if isinstance(value, (str, bytes)) else MAX_ITEMS


def _int(value: Any) -> int:
    return abs(value) if isinstance(value, int) else 0


def _text_len(value: Any) -> int:
    """Length of ``value`` as text, without converting big non-text values."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return len(str(value)) if _int(value).bit_length() <= MAX_INT_BITS else MAX_TEXT + 1
    if isinstance(value, Sized) and len(value) > MAX_ITEMS:
        return MAX_TEXT + 1
    return 64  # a record, None, a small container: its text is small or checked afterwards


def _format_widths(fmt: str) -> None:
    """Refuse padding/precision numbers in a format string (``%0999999999d``, ``{:>9999999}``)
    that would make a text over the budget."""
    for digits in _DIGITS.findall(fmt):
        if len(digits) > 8 or int(digits) > MAX_TEXT:
            raise _too_big("a format width")


def _check_format(fmt: str, args: Iterable[Any]) -> None:
    _format_widths(fmt)
    args = list(args)
    if any(_int(a) > MAX_TEXT for a in args):  # a width given as an argument ("%*d", "{:{}}")
        raise _too_big("a format width")
    longest = max((_text_len(a) for a in args), default=0)
    fields = fmt.count("%") + fmt.count("{")
    if len(fmt) + fields * longest > MAX_TEXT:
        raise _too_big("a formatted text")


def _binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``left <operator> right`` before it runs when its result would be too big."""
    if operator == "**":
        grows = isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1
        if grows and right * left.bit_length() > MAX_INT_BITS:
            raise _too_big("a number")
    elif operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _too_big("a number")
        else:
            for seq, times in ((left, right), (right, left)):
                if isinstance(times, int) and _size(seq) * max(times, 0) > _limit(seq):
                    raise _too_big("a repeated text or sequence")
    elif operator == "+":
        if _size(left) + _size(right) > max(_limit(left), _limit(right)):
            raise _too_big("a joined text or sequence")
    elif operator == "%" and isinstance(left, str):
        args = right if isinstance(right, tuple) else (right,)
        _check_format(left, args)


# String methods a template may call that can return much more than they are given, and the
# size of what they would return (checked before the call).
def _method_size(name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    values = [*args, *kwargs.values()]
    first = values[0] if values else None
    if name in ("center", "ljust", "rjust", "zfill"):
        return max(len(text), _int(first))
    if name == "expandtabs":
        return len(text) * max(_int(first) if values else 8, 1)
    if name == "replace" and len(values) >= 2:
        old, new = soft_str(values[0]), soft_str(values[1])
        times = (len(text) + 1) if not old else text.count(old)
        return len(text) + times * len(new)
    if name == "join" and values:
        items = values[0]
        count = len(items) if isinstance(items, Sized) else 0
        if count > MAX_ITEMS:
            return MAX_TEXT + 1
        parts = list(items) if isinstance(items, (list, tuple)) else []
        return sum(_text_len(p) for p in parts) + len(text) * count
    if name in ("format", "format_map"):
        _check_format(text, [*args, *kwargs.values()])
        return 0
    if name == "translate" and isinstance(first, dict):
        longest = max((_text_len(v) for v in first.values()), default=1)
        return len(text) * max(longest, 1)
    return 0


def _check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # The sandbox wraps str.format/format_map (functools.update_wrapper): look through it.
    method = getattr(obj, "__wrapped__", obj)
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if isinstance(owner, str):
        if _method_size(name, owner, args, kwargs) > MAX_TEXT:
            raise _too_big(f"str.{name}()")
    elif isinstance(owner, (list, set, dict)) and name in ("extend", "update") and args:  # noqa: SIM102
        if len(owner) + _size(args[0]) > MAX_ITEMS:
            raise _too_big(f"{type(owner).__name__}.{name}()")
    for value in (*args, *kwargs.values()):
        check_value(value, made=False)


# Filters that can return much more than they are given: the size of what they would return.
def _filter_size(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    values = [*args, *kwargs.values()]
    value = soft_str(values[0]) if values and isinstance(values[0], str) else ""
    if name == "center":
        return max(len(value), _int(values[1]) if len(values) > 1 else 80)
    if name == "indent":
        width = values[1] if len(values) > 1 else 4
        pad = len(width) if isinstance(width, str) else _int(width)
        return len(value) + (value.count("\n") + 1) * pad
    if name == "wordwrap":
        wrap = next((v for v in values[3:] if isinstance(v, str)), "\n")
        return len(value) * (1 + len(wrap))
    if name == "replace" and len(values) >= 3:
        return _method_size("replace", value, tuple(values[1:3]), {})
    if name == "join" and values:
        sep = next((v for v in values[1:2] if isinstance(v, str)), "")
        items = values[0]
        count = len(items) if isinstance(items, Sized) else 0
        if count > MAX_ITEMS:
            return MAX_TEXT + 1
        parts = list(items) if isinstance(items, (list, tuple)) else []
        return sum(_text_len(p) for p in parts) + len(sep) * count
    if name == "format" and values and isinstance(values[0], str):
        _check_format(values[0], values[1:])
    if name == "tojson":
        indent = kwargs.get("indent", values[1] if len(values) > 1 else None)
        if _int(indent) > 64:
            raise _too_big("a tojson indent")
    return 0


def _budgeted_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_time()
        # Context/environment arguments first for pass_context filters: skip them.
        values = tuple(a for a in args if not isinstance(a, (Context, SandboxedEnvironment)))
        values = tuple(v for v in values if type(v).__name__ != "EvalContext")
        if _filter_size(name, values, kwargs) > MAX_TEXT:
            raise _too_big(f"the {name} filter")
        return check_value(func(*args, **kwargs))

    return wrapper


def _bounded_join(parts: Iterable[Any], markup: bool) -> str:
    """``a ~ b`` (Jinja's ``markup_join``/``str_join``), refused before joining too much."""
    texts = [(p if isinstance(p, str) else soft_str(p)) for p in parts]
    if sum(len(t) for t in texts) > MAX_TEXT:
        raise _too_big("a joined text")
    if markup and any(hasattr(p, "__html__") for p in texts):
        return Markup("").join(texts)
    return "".join(texts)


class _Buffer(list[Any]):
    """The output buffer of a macro, block assignment, filter or call block: counted as it
    fills (such output is joined only at the end, so it could grow past any page)."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def append(self, item: Any) -> None:
        self.size += len(item) if isinstance(item, str) else 64
        if self.size > MAX_TEXT:
            raise _too_big("the output of a macro or block")
        list.append(self, item)

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.append(item)


def _trusted(filename: str | None) -> bool:
    """The bundled templates (files of the package, by absolute path) are ours: they compile
    without the per-output hooks. Editors' overrides are named ``theme/<name>``."""
    return filename is not None and os.path.isabs(filename)


class _BudgetCodeGenerator(CodeGenerator):
    """Compiles ``~`` to a join that checks the size first, and output buffers to _Buffer
    (in untrusted templates)."""

    def buffer(self, frame: Frame) -> None:
        if _trusted(self.filename):
            super().buffer(frame)
            return
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if _trusted(self.filename):
            super().visit_Concat(node, frame)
            return
        if frame.eval_ctx.volatile:
            markup = "context.eval_ctx.volatile"
        else:
            markup = "True" if frame.eval_ctx.autoescape else "False"
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {markup})")


class BudgetedSandbox(SandboxedEnvironment):
    """The sandbox, with every value-growing operation checked against the size budget and the
    CPU deadline checked at each call, operator, filter and output chunk."""

    code_generator_class = _BudgetCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, func in list(self.filters.items()):
            self.filters[name] = _budgeted_filter(name, func)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Every {% for %} iterates through bounded_iter: the deadline is checked in loops whose
        # body makes no call (the timer does it too, but only on the main thread).
        tree = super()._parse(source, name, filename)
        if _trusted(filename):
            return tree
        for loop in tree.find_all(nodes.For):
            attribute = nodes.EnvironmentAttribute("bounded_iter")
            loop.iter = nodes.Call(attribute, [loop.iter], [], None, None, lineno=loop.lineno)
        return tree

    def bounded_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for count, item in enumerate(iterable):
            if not count & 1023:
                check_time()
            yield item

    def output_buffer(self) -> list[Any]:
        return _Buffer()

    def bounded_join(self, parts: Iterable[Any], markup: bool) -> str:
        check_time()
        return _bounded_join(parts, markup)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_time()
        _binop(operator, left, right)
        return check_value(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_time()
        _check_call(__obj, args, kwargs)
        return check_value(super().call(__context, __obj, *args, **kwargs))

    def concat(self, parts: Iterable[str]) -> str:
        """Joins the output of a page, macro or block: counted chunk by chunk."""
        if type(parts) is _Buffer:  # counted as it was filled
            return "".join(parts)
        if isinstance(parts, list):  # a trusted template's buffer
            if sum(map(len, parts)) > MAX_TEXT:
                raise _too_big("the output of a macro or block")
            return "".join(parts)
        total = 0
        buffer = []
        for part in parts:
            total += len(part)
            if total > MAX_TEXT:
                raise _too_big("the page")
            buffer.append(part)
            if not len(buffer) & 255:
                check_time()
        return "".join(buffer)
