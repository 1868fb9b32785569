"""Quality gates as CI systems show them: JUnit XML and GitHub Actions annotations.

Pure functions of a gates block (the ``gates`` of an audit's results, :func:`prevalens.gates.
evaluate_gates`, or of a comparison, :func:`prevalens.gates.evaluate_comparison_gates`):

* :func:`gates_junit`: one JUnit ``<testcase>`` per gate, so Jenkins, GitLab, Azure Pipelines or
  a GitHub test-report action list each gate as a test that passed or failed;
* :func:`gates_github`: one GitHub Actions workflow command per gate, ``::error`` for a failed
  gate and ``::notice`` for a passed one, which GitHub shows as annotations of the run;
* :func:`gate_message`: the one line both use, e.g. ``macro.f1 >= 0.70: lower bound 0.65 <
  0.70``.

The output depends only on the block (and a timestamp when one is given): the same gates give the
same bytes.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from .exceptions import ConfigError
from .formatting import fmt_estimate, fmt_gate_value

__all__ = ["gates_junit", "gates_github", "gate_message", "gate_title"]

#: What each checked end is called in a message.
_END = {"ci_low": "lower bound", "ci_high": "upper bound", "estimate": "estimate"}
#: The comparison a failed gate's value makes with its threshold.
_FAILED_OP = {">=": "<", ">": "<=", "<=": ">", "<": ">="}
#: Characters XML 1.0 cannot hold at all, not even as a character reference.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _items(block) -> list:
    if block is None:
        raise ConfigError("no quality gate is declared (the gates block is None); declare one")
    if not isinstance(block, Mapping) or not isinstance(block.get("items"), list):
        raise ConfigError(
            "expected a gates block (a dict with `items`, as evaluate_gates returns); got "
            f"{type(block).__name__}"
        )
    return block["items"]


def gate_title(item: Mapping) -> str:
    """The gate's spec, with its pair of models in a comparison: ``delta.macro.f1 >= -0.02
    (B vs A)``."""
    return f"{item['spec']} ({item['pair']})" if item.get("pair") else str(item["spec"])


def _threshold_text(item: Mapping) -> str:
    """The threshold as the spec writes it (``0.70``), else as a number."""
    threshold = item.get("threshold")
    tail = str(item.get("spec", "")).rsplit(" ", 1)[-1]
    try:
        if float(tail) == threshold:
            return tail
    except ValueError:
        pass
    return f"{threshold:g}" if isinstance(threshold, (int, float)) else str(threshold)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def gate_message(item: Mapping) -> str:
    """One line on one gate: the value checked, which end of the interval it is, the threshold
    and, when there is one, the note.

    Examples
    --------
    >>> gate_message({"spec": "macro.f1 >= 0.70", "op": ">=", "threshold": 0.7,
    ...               "compared": "ci_low", "value": 0.65, "passed": False})
    'macro.f1 >= 0.70: lower bound 0.65 < 0.70'
    >>> gate_message({"spec": "macro.f1 >= 0.70", "op": ">=", "threshold": 0.7,
    ...               "compared": None, "value": None, "passed": False,
    ...               "note": "stratum 'rare' has no class in this data"})
    "macro.f1 >= 0.70: stratum 'rare' has no class in this data"
    """
    title = gate_title(item)
    note = item.get("note")
    if item.get("kind") == "regression" or _missing(item.get("value")):
        return f"{title}: {note or 'no value'}"
    op = item["op"] if item["passed"] else _FAILED_OP[item["op"]]
    end = _END.get(item.get("compared") or "", item.get("compared") or "value")
    text = f"{title}: {end} {fmt_gate_value(item)} {op} {_threshold_text(item)}"
    return f"{text} ({note})" if note else text


def _details(item: Mapping) -> str:
    """The text of a failed test case: the gate's numbers, one per line."""
    lines = [f"gate: {item['spec']}"]
    if item.get("pair"):
        lines.append(f"pair: {item['pair']} (candidate minus reference)")
    if item.get("kind") == "regression":
        for r in item.get("regressions") or []:
            lines.append(f"worse: {r['metric']} ({r['pair']})")
    else:
        compared = item.get("compared")
        if compared in ("ci_low", "ci_high"):
            lines.append(f"checked: {compared} ({_END[compared]})")
        else:
            lines.append(f"checked: {compared or 'nothing (no value)'}")
        if not _missing(item.get("value")):
            lines.append(f"value: {fmt_gate_value(item)}")
        lines.append(f"threshold: {_threshold_text(item)}")
        est = item.get("estimate")
        if est:
            # a difference between models may be negative: 0 is its only bound
            text = fmt_estimate(est, bounds=(0.0,) if item.get("pair") else (0.0, 1.0))
            extra = [str(est["method"])] if est.get("method") else []
            if est.get("status") not in (None, "ok"):
                extra.append(f"status {est['status']}")
            lines.append(f"estimate: {text}" + (f" ({', '.join(extra)})" if extra else ""))
    if item.get("note"):
        lines.append(f"note: {item['note']}")
    return "\n".join(lines)


def _xml(text) -> str:
    """``text`` with the characters XML cannot hold written as ``\\xNN`` (a label with a
    control character still gives a file every parser reads)."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def gates_junit(block, *, suite: str = "prevalens gates", timestamp: str | None = None) -> bytes:
    """The gates as a JUnit XML report: one test case per gate, failed gates as failures.

    Parameters
    ----------
    block : dict
        A gates block (``{"basis", "passed", "n_failed", "items"}``) of an audit or a
        comparison.
    suite : str
        The test suite's name.
    timestamp : str, optional
        The suite's ``timestamp`` attribute (e.g. the audit's ``run.created_utc``); none by
        default, so the bytes depend on the gates alone.

    Returns
    -------
    bytes
        UTF-8 XML: ``<testsuites>`` holding one ``<testsuite>`` (``tests``, ``failures``,
        ``errors="0"``, ``skipped="0"``, a ``basis`` property) with one ``<testcase
        classname="prevalens.gates" name=SPEC>`` per item (``SPEC (B vs A)`` in a comparison).
        A failed gate holds ``<failure message=...>`` with the line of :func:`gate_message` and
        the gate's numbers as its text; a passed gate holds that line in ``<system-out>``.

    Examples
    --------
    >>> block = {"basis": "interval", "items": [{"spec": "macro.f1 >= 0.70", "op": ">=",
    ...          "threshold": 0.7, "compared": "ci_low", "value": 0.73, "passed": True}]}
    >>> print(gates_junit(block).decode())  # doctest: +NORMALIZE_WHITESPACE
    <?xml version='1.0' encoding='utf-8'?>
    <testsuites tests="1" failures="0" errors="0">
      <testsuite name="prevalens gates" tests="1" failures="0" errors="0" skipped="0">
        <properties>
          <property name="basis" value="interval" />
        </properties>
        <testcase classname="prevalens.gates" name="macro.f1 &gt;= 0.70">
          <system-out>macro.f1 &gt;= 0.70: lower bound 0.73 &gt;= 0.70</system-out>
        </testcase>
      </testsuite>
    </testsuites>
    """
    items = _items(block)
    n, failures = str(len(items)), str(sum(not i["passed"] for i in items))
    root = ET.Element("testsuites", {"tests": n, "failures": failures, "errors": "0"})
    attrs = {"name": _xml(suite), "tests": n, "failures": failures, "errors": "0", "skipped": "0"}
    if timestamp is not None:
        attrs["timestamp"] = _xml(timestamp)
    ts = ET.SubElement(root, "testsuite", attrs)
    if block.get("basis"):
        props = ET.SubElement(ts, "properties")
        ET.SubElement(props, "property", {"name": "basis", "value": _xml(block["basis"])})
    for item in items:
        case = ET.SubElement(
            ts, "testcase", {"classname": "prevalens.gates", "name": _xml(gate_title(item))}
        )
        message = _xml(gate_message(item))
        if item["passed"]:
            ET.SubElement(case, "system-out").text = message
        else:
            failure = ET.SubElement(case, "failure", {"message": message, "type": "gate"})
            failure.text = _xml(_details(item))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's runner reads it back: ``%`` first,
    then carriage return and line feed (a raw newline would end the command, and the rest of
    the line could be read as another command)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A property's value (``title=...``): also ``:`` and ``,``, which delimit properties."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def gates_github(block) -> str:
    """The gates as GitHub Actions workflow commands, one line per gate.

    A failed gate is ``::error title=prevalens gate failed::MESSAGE`` and a passed one
    ``::notice title=prevalens gate passed::MESSAGE``, MESSAGE the line of :func:`gate_message`
    with ``%``, carriage returns and line feeds escaped as ``%25``, ``%0D``, ``%0A`` (so a label
    holding a newline cannot end the command or start another). Printed on a job's stdout,
    GitHub shows them as annotations of the run (at most 10 errors and 10 notices per step).

    Examples
    --------
    >>> block = {"items": [{"spec": "macro.f1 >= 0.70", "op": ">=", "threshold": 0.7,
    ...          "compared": "ci_low", "value": 0.65, "passed": False}]}
    >>> print(gates_github(block), end="")
    ::error title=prevalens gate failed::macro.f1 >= 0.70: lower bound 0.65 < 0.70
    """
    lines = []
    for item in _items(block):
        command, title = (
            ("notice", "prevalens gate passed")
            if item["passed"]
            else ("error", "prevalens gate failed")
        )
        lines.append(
            f"::{command} title={_escape_property(title)}::{_escape_data(gate_message(item))}\n"
        )
    return "".join(lines)
