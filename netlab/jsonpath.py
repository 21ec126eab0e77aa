"""kubectl's JSONPath output helpers as pure functions: `-o jsonpath`, `-o custom-columns`, `--sort-by`.

A port of kubectl v1.35, whose code is the spec:

    k8s.io/client-go/util/jsonpath        parser.go (the grammar), jsonpath.go (evaluation and printing)
    k8s.io/kubectl/pkg/cmd/get            customcolumn.go (columns, RelaxedJSONPathExpression), sorter.go
    k8s.io/cli-runtime/pkg/printers       jsonpath.go (how kubectl words a failed template)
    k8s.io/apimachinery/pkg/api/resource  quantity.go (--sort-by orders "100m" before "1", "9" before "10")

Templates run over plain JSON data (dict, list, str, int, float, bool, None) as kubectl runs them over the
objects the API server sends, on which a whole float (3.0) arrives as the int 3. Values print as Go prints them:
strings raw, ints plain, floats as Go's %v (0.5, 1.5e-07), maps and lists as Go's encoding/json writes them
(compact, keys sorted, `<>&` escaped), null as `null`.

One deliberate difference: Go visits a map's values (`.*`, `..`) in random order; here they come in key order.
"""

from __future__ import annotations

import decimal
import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Optional


class JSONPathError(Exception):
    """A template or expression kubectl refuses, with kubectl's message (without the `error: ` it adds)."""


# --- the template's syntax tree (client-go's node.go) ----------------------------------------------------------

@dataclass
class _Text:
    text: str


@dataclass
class _Field:
    name: str


@dataclass
class _Wildcard:
    pass


@dataclass
class _Recursive:
    pass


@dataclass
class _Param:
    value: int = 0
    known: bool = False
    derived: bool = False   # the end of `[i]`, made up as i+1


@dataclass
class _Array:
    start: _Param
    end: _Param
    step: _Param


@dataclass
class _Filter:
    left: list
    right: list
    operator: str           # ==, !=, <, >, <=, >=, or "exists" for a bare `[?(@.x)]`


@dataclass
class _Union:
    branches: list          # node lists, one per comma-separated part of `[a,b]`


@dataclass
class _Literal:
    value: object           # an int, float or bool written in the template


@dataclass
class _Identifier:
    name: str               # range, end


@dataclass
class _Action:
    nodes: list = field(default_factory=list)   # what one `{...}` holds


# --- parsing (parser.go) -----------------------------------------------------------------------------------------

_TERMINATORS = frozenset(" \t\r\n.,[]$@{}")
_DICT_KEY = re.compile(r"'([^']*)'")
_SLICE = re.compile(r"(-?[0-9]*)(:-?[0-9]*)?(:-?[0-9]*)?")
_COMPARISON = re.compile(r"([^!<>=]+)([!<>=]+)(.+?)")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_INT64 = range(-2 ** 63, 2 ** 63)
_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _parse(template: str) -> list:
    """TEMPLATE's top-level nodes, text runs and actions; JSONPathError with the parser's complaint."""
    return _Parser(template).parse()


def _parse_action(text: str) -> list:
    """The nodes of TEXT read as the inside of one action, as parser.go reads filter sides and union parts."""
    return _Parser("{" + text + "}").parse()[0].nodes


def _atoi(text: str) -> Optional[int]:
    """TEXT as Go's strconv.Atoi reads it (ASCII digits, an int64), or None."""
    if not _INTEGER.fullmatch(text) or int(text) not in _INT64:
        return None
    return int(text)


def _is_digit(char: str) -> bool:
    return char.isdecimal()     # Unicode Nd, as Go's unicode.IsDigit


def _is_alphanumeric(char: str) -> bool:
    return char == "_" or char.isalpha() or char.isdecimal()


def _go_rune(char: str) -> str:
    """CHAR as Go's %#U shows it: U+0021 '!'."""
    return f"U+{ord(char):04X}" + (f" '{char}'" if char.isprintable() else "")


class _Parser:
    """parser.go's scanner: POS is the next character to read, START where the token being read begins."""

    def __init__(self, text: str):
        self.text, self.pos, self.start = text, 0, 0

    def parse(self) -> list:
        root = []
        while True:
            brace = self.text.find("{", self.pos)
            if brace < 0:
                if self.start < len(self.text):
                    root.append(_Text(self.text[self.start:]))
                return root
            if brace > self.start:
                root.append(_Text(self.text[self.start:brace]))
            self.pos = self.start = brace + 1
            action = _Action()
            root.append(action)
            self._inside_action(action.nodes)

    def _next(self) -> Optional[str]:
        if self.pos >= len(self.text):
            return None
        self.pos += 1
        return self.text[self.pos - 1]

    def _token(self) -> str:
        token, self.start = self.text[self.start:self.pos], self.pos
        return token

    def _to_terminator(self, escapes: bool) -> None:
        """Advance to the next terminator; with ESCAPES a backslash takes the character after it along."""
        while True:
            char = self._next()
            if char == "\\" and escapes:
                self._next()
            elif char is None or char in _TERMINATORS:
                if char is not None:
                    self.pos -= 1           # the terminator belongs to the next token
                return

    def _inside_action(self, cur: list) -> None:
        while True:
            if self.text.startswith("}", self.pos):
                self.pos += 1
                self.start = self.pos
                return
            if self.text.startswith("[?(", self.pos):
                self._filter(cur)
                continue
            if self.text.startswith("..", self.pos):
                self._recursive(cur)
                continue
            char = self._next()
            if char is None or char in "\r\n":
                raise JSONPathError("unclosed action")
            if char in " @$":
                self.start = self.pos               # `@` and `$` are the current object, where walking starts anyway
            elif char == "[":
                self._array(cur)
            elif char in "\"'":
                self._quote(cur, char)
            elif char == ".":
                self._field(cur)
            elif char in "+-" or _is_digit(char):
                self.pos -= 1
                self._number(cur)
            elif _is_alphanumeric(char):
                self.pos -= 1
                self._identifier(cur)
            else:
                raise JSONPathError(f"unrecognized character in action: {_go_rune(char)}")

    def _field(self, cur: list) -> None:
        self.start = self.pos
        self._to_terminator(escapes=True)
        name = self._token()
        cur.append(_Wildcard() if name == "*" else _Field(name.replace("\\", "")))

    def _identifier(self, cur: list) -> None:
        self._to_terminator(escapes=False)
        name = self._token()
        cur.append(_Literal(name == "true") if name in ("true", "false") else _Identifier(name))

    def _recursive(self, cur: list) -> None:
        if cur and isinstance(cur[-1], _Recursive):
            raise JSONPathError("invalid multiple recursive descent")
        self.pos += 2
        self.start = self.pos
        cur.append(_Recursive())
        if self.pos < len(self.text) and _is_alphanumeric(self.text[self.pos]):
            self._field(cur)

    def _number(self, cur: list) -> None:
        if self.text[self.pos] in "+-":
            self.pos += 1
        while (char := self._next()) is not None:
            if char != "." and not _is_digit(char):
                self.pos -= 1
                break
        text = self._token()
        if (integer := _atoi(text)) is not None:
            cur.append(_Literal(integer))
        elif _FLOAT.fullmatch(text):
            cur.append(_Literal(float(text)))
        else:
            raise JSONPathError(f"cannot parse number {text}")

    def _array(self, cur: list) -> None:
        while True:
            char = self._next()
            if char is None or char == "\n":
                raise JSONPathError("unterminated array")
            if char == "]":
                break
        text = self._token()[1:-1]
        if text == "*":
            text = ":"
        parts = text.split(",")
        if len(parts) > 1:
            cur.append(_Union([_parse_action(f"[{part.strip(' ')}]") for part in parts]))
            return
        # ['a.b'] is .a.b, not the key "a.b": a dot in a key is written \. in both forms
        if key := _DICT_KEY.fullmatch(text):
            cur.extend(_parse_action("." + key.group(1)))
            return
        bounds = _SLICE.fullmatch(text)
        if bounds is None:
            raise JSONPathError(f"invalid array index {text}")
        params = []
        for i, bound in enumerate(group or "" for group in bounds.groups()):
            if not bound:
                params.append(_Param(params[0].value + 1, known=True, derived=True) if i == 1 else _Param())
                continue
            number = bound[1:] if i > 0 else bound      # past the ':'
            if not number:
                params.append(_Param())
            elif (value := _atoi(number)) is None:
                raise JSONPathError(f"array index {number} is not a number")
            else:
                params.append(_Param(value, known=True))
        cur.append(_Array(*params))

    def _filter(self, cur: list) -> None:
        self.pos += len("[?(")
        self.start = self.pos
        quote, opened, closed = "", False, False
        while True:
            char = self._next()
            if char is None or char == "\n":
                raise JSONPathError("unterminated filter")
            if char in "\"'":
                if not opened:
                    opened, quote = True, char
                elif char == quote and self.text[self.pos - 2] != "\\":
                    closed = True
            elif char == ")" and opened == closed:
                break
        if self._next() != "]":
            raise JSONPathError("unclosed array expect ]")
        text = self._token()[:-2]
        comparison = _COMPARISON.fullmatch(text)
        if comparison is None:
            cur.append(_Filter(_parse_action(text), [], "exists"))
        else:
            left, operator, right = comparison.groups()
            cur.append(_Filter(_parse_action(left), _parse_action(right), operator))

    def _quote(self, cur: list, quote: str) -> None:
        while True:
            char = self._next()
            if char is None or char == "\n":
                raise JSONPathError("unterminated quoted string")
            if char == quote and self.text[self.pos - 2] != "\\":
                break
        token = self._token()
        text = _unquote(token[1:-1], quote)
        if text is None:
            raise JSONPathError(f"unquote string {token} error invalid syntax")
        cur.append(_Text(text))


def _unquote(body: str, quote: str) -> Optional[str]:
    """BODY with Go's escapes (\\n, \\x41, \\101, \\u00e9, ...) resolved, as UnquoteExtend does; None if invalid."""
    if "\\" not in body and quote not in body:
        return body
    out, i = bytearray(), 0
    while i < len(body):
        char = body[i]
        if char == quote:
            return None
        if char != "\\":
            out += char.encode()
            i += 1
            continue
        escape, i = body[i + 1:i + 2], i + 2
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
        elif escape and escape in "xuU":
            digits = body[i:i + {"x": 2, "u": 4, "U": 8}[escape]]
            if len(digits) < {"x": 2, "u": 4, "U": 8}[escape] or any(d not in "0123456789abcdefABCDEF" for d in digits):
                return None
            value, i = int(digits, 16), i + len(digits)
            if escape == "x":
                out.append(value)                       # a byte, as Go's \x is
            elif value > 0x10FFFF or 0xD800 <= value < 0xE000:
                return None
            else:
                out += chr(value).encode()
        elif escape and escape in "01234567":
            digits = body[i - 1:i + 2]
            if len(digits) < 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                return None
            out.append(int(digits, 8))
            i += 2
        elif escape in ("'", '"') and escape == quote:
            out += escape.encode()
        else:
            return None
    return out.decode("utf-8", "replace")


# --- evaluation (jsonpath.go) ------------------------------------------------------------------------------------

class _Failed(Exception):
    """An execution error; PARTIAL is what the failing step of jsonpath.go returns along with it."""

    def __init__(self, message: str, partial=()):
        super().__init__(message)
        self.partial = list(partial)


_GO_TYPES = ((bool, "bool"), (int, "int64"), (float, "float64"), (str, "string"),
             (dict, "map[string]interface {}"), (list, "[]interface {}"))


def _as_served(value):
    """VALUE as kubectl receives it from the API server, where Go writes an integral float64 as digits: an int."""
    if isinstance(value, float) and value.is_integer() and -2 ** 63 <= value < 2 ** 63:
        return int(value)
    if isinstance(value, dict):
        return {key: _as_served(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_served(item) for item in value]
    return value


def _go_type(value) -> str:
    """The Go type kubectl's decoding of JSON gives VALUE, as its messages name it."""
    for python_type, go_type in _GO_TYPES:
        if isinstance(value, python_type):
            return go_type
    return type(value).__name__


def _children(value) -> list:
    """What `.*` and `..` step into: a map's values (in key order), a list's items, a string's bytes."""
    if isinstance(value, dict):
        return [value[key] for key in sorted(value)]
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return list(value.encode())
    return []


class _Executor:
    """One run of jsonpath.go's JSONPath over a parsed template, with its range/end bookkeeping."""

    def __init__(self, nodes: list, allow_missing: bool):
        self.nodes = nodes
        self.allow_missing = allow_missing
        self.begin_range = self.in_range = self.end_range = 0
        self.last_end = -1                      # the {end} that closed the latest range body

    def find_results(self, data, start: int = 0) -> list:
        """FindResults: a list of values per top-level node from START on, a range's body once per item."""
        current, found, i = [data], [], start
        while i < len(self.nodes):
            results = self._walk(current, self.nodes[i])
            if 0 < self.end_range <= self.in_range:
                self.end_range -= 1
                self.last_end = i
                break
            if self.begin_range > 0:
                self.begin_range -= 1
                self.in_range += 1
                if results:
                    for value in results:
                        found.extend(self.find_results(value, i + 1))
                else:
                    # an empty range still walks its body once, on nothing, so that its {end} is reached
                    self.find_results(None, i + 1)
                self.in_range -= 1
                i = max(i, self.last_end) + 1
                continue
            found.append(results)
            i += 1
        return found

    def _walk(self, values: list, node) -> list:
        if isinstance(node, _Action):
            return self._list(values, node.nodes)
        if isinstance(node, _Text):
            return [node.text]
        if isinstance(node, _Field):
            return self._field(values, node.name)
        if isinstance(node, _Array):
            return self._array(values, node)
        if isinstance(node, _Filter):
            return self._filter(values, node)
        if isinstance(node, _Literal):
            return [node.value for _ in values]
        if isinstance(node, _Wildcard):
            return [child for value in values for child in _children(value)]
        if isinstance(node, _Recursive):
            return self._recursive(values)
        if isinstance(node, _Union):
            return self._union(values, node)
        return self._identifier(values, node.name)

    def _list(self, values: list, nodes: list) -> list:
        for node in nodes:
            values = self._walk(values, node)
        return values

    def _identifier(self, values: list, name: str) -> list:
        if name == "range":
            self.begin_range += 1
            return values
        if name == "end":
            if self.in_range > 0:
                self.end_range += 1
                return []
            raise _Failed("not in range, nothing to end")
        raise _Failed(f"unrecognized identifier {name}", values)

    def _field(self, values: list, name: str) -> list:
        if not values:
            return []
        results = [value[name] for value in values if isinstance(value, dict) and name in value]
        if not results and not self.allow_missing:
            raise _Failed(f"{name} is not found")
        return results

    def _array(self, values: list, node: _Array) -> list:
        results = []
        for value in values:
            if value is None:
                continue
            if not isinstance(value, list):
                raise _Failed(f"{_go_type(value)} is not array or slice", values)
            length = len(value)
            start = node.start.value if node.start.known else 0
            if start < 0:
                start += length
            end = node.end.value if node.end.known else length
            if end < 0 or (end == 0 and node.end.derived):
                end += length
            if end == start:
                return results          # jsonpath.go stops here, dropping the values after this one too
            if start >= length or start < 0:
                raise _Failed(f"array index out of bounds: index {start}, length {length}", values)
            if end > length or end < 0:
                raise _Failed(f"array index out of bounds: index {end - 1}, length {length}", values)
            if start > end:
                raise _Failed(f"starting index {start} is greater than ending index {end}", values)
            step = 1
            if node.step.known:
                if node.step.value <= 0:
                    raise _Failed("step must be > 0", values)
                step = node.step.value
            results.extend(value[start:end:step])
        return results

    def _union(self, values: list, node: _Union) -> list:
        results = []
        for branch in node.branches:
            try:
                results.extend(self._list(values, branch))
            except _Failed as failed:
                raise _Failed(str(failed), values) from None
        return results

    def _recursive(self, values: list) -> list:
        results = []
        for value in values:
            if children := _children(value):
                results.append(value)
                results.extend(self._recursive(children))
        return results

    def _filter(self, values: list, node: _Filter) -> list:
        results = []
        for value in values:
            if not isinstance(value, list):
                raise _Failed(f"{_format_value(value)} is not array or slice and cannot be filtered", values)
            for item in value:
                if node.operator == "exists":
                    # the test is only whether the left side gave anything, even alongside an error
                    try:
                        lefts = self._list([item], node.left)
                    except _Failed as failed:
                        lefts = failed.partial
                    if lefts:
                        results.append(item)
                    continue
                sides = []
                for side in (node.left, node.right):
                    try:
                        found = self._list([item], side)
                    except _Failed as failed:
                        raise _Failed(str(failed), values) from None
                    if len(found) > 1:
                        raise _Failed("can only compare one element at a time", values)
                    sides.append(found)
                    if not found:
                        break
                if all(sides) and _compare(node.operator, sides[0][0], sides[1][0], results):
                    results.append(item)
        return results


def _compare_kind(value) -> Optional[str]:
    """The kind Go's template comparisons give VALUE, or None for one they cannot compare."""
    for python_type, kind in ((bool, "bool"), (int, "int"), (float, "float"), (str, "string")):
        if isinstance(value, python_type):
            return kind
    return None


def _compare(operator: str, left, right, partial: list) -> bool:
    """LEFT OPERATOR RIGHT as client-go's forked text/template eq, ne, lt, gt, le, ge decide it."""
    if operator not in ("==", "!=", "<", ">", "<=", ">="):
        raise _Failed(f"unrecognized filter operator {operator}", partial)
    left_kind, right_kind = _compare_kind(left), _compare_kind(right)
    if left_kind is None or right_kind is None:
        raise _Failed("invalid type for comparison", partial)
    if left_kind != right_kind:
        raise _Failed("incompatible types for comparison", partial)
    if operator in ("==", "!="):
        return (left == right) == (operator == "==")
    if left_kind == "bool":
        raise _Failed("invalid type for comparison", partial)
    return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[operator]


# --- printing as Go does --------------------------------------------------------------------------------------------

def _go_float(value: float, for_json: bool = False) -> str:
    """VALUE as Go's fmt %v writes a float64 (1e+06, 1.5e-07), or with FOR_JSON as encoding/json does (1e-7)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    # repr gives the shortest digits that read back as VALUE, the digits Go prints too
    negative, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digits))
    point = len(digits) + exponent           # where the decimal point falls among DIGITS
    if for_json:
        scientific = abs(value) < 1e-6 or abs(value) >= 1e21
    else:
        scientific = point - 1 < -4 or point - 1 >= 6      # %g with the shortest precision switches at 6
    if scientific:
        power = point - 1
        places = str(-power) if for_json and power < 0 else f"{abs(power):02d}"   # encoding/json trims e-07 to e-7
        text = digits[0] + ("." + digits[1:] if len(digits) > 1 else "") + ("e-" if power < 0 else "e+") + places
    elif point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return ("-" if negative else "") + text


def _format_value(value) -> str:
    """fmt.Sprint of a decoded JSON value, as custom columns print it: `map[cpu:4]`, `[a b]`, `<nil>`."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{_format_value(value[key])}" for key in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_format_value(item) for item in value) + "]"
    return str(value)


def _json_string(text: str) -> str:
    # encoding/json also escapes <, > and & (HTML-safe) and U+2028/U+2029 (JavaScript-safe)
    quoted = json.dumps(text, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        quoted = quoted.replace(char, escaped)
    return quoted


def _go_json(value) -> str:
    """VALUE as Go's json.Marshal writes it: compact, map keys sorted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise _Failed(f"json: unsupported value: {_go_float(value)}")
        return _go_float(value, for_json=True)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json_string(key)}:{_go_json(value[key])}" for key in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_go_json(item) for item in value) + "]"
    return str(value)


def _print_results(values: list) -> str:
    """PrintResults: maps and lists as JSON, anything else as Go prints it (null as `null`), space-separated."""
    return " ".join(_go_json(value) if isinstance(value, (dict, list)) else
                    "null" if value is None else _format_value(value) for value in values)


_GO_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
                     "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """TEXT as Go's %q quotes it, the way kubectl's messages quote templates and selectors."""
    out = []
    for char in text:
        if char in _GO_QUOTE_ESCAPES:
            out.append(_GO_QUOTE_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


# --- kubectl's three uses -------------------------------------------------------------------------------------------

def render(template: str, data, allow_missing: bool = True) -> str:
    """What `kubectl get -o jsonpath=TEMPLATE` prints for DATA (for a list, the List object); JSONPathError if not."""
    if not template:
        raise JSONPathError("template format specified but no template given")
    try:
        nodes = _parse(template)
    except JSONPathError as err:
        raise JSONPathError(f"error parsing jsonpath {template}, {err}") from None
    try:
        results = _Executor(nodes, allow_missing).find_results(_as_served(data))
        return "".join(_print_results(values) for values in results)
    except _Failed as failed:
        # kubectl goes on with "Printing more information for debugging the template:" and a Go dump of DATA
        raise JSONPathError(f"error executing jsonpath {go_quote(template)}: "
                            f"Error executing template: {failed}") from None


_RELAXED = re.compile(r"\{\.?([^{}]+)\}|\.?([^{}]+)")


def _relaxed(expression: str) -> str:
    """RelaxedJSONPathExpression: `metadata.name`, `.metadata.name`, `{metadata.name}` all mean `{.metadata.name}`."""
    if not expression:
        return expression
    match = _RELAXED.fullmatch(expression)
    if match is None:
        raise JSONPathError("unexpected path string, expected a 'name1.name2' or '.name1.name2' or "
                            "'{name1.name2}' or '{.name1.name2}'")
    return "{." + (match.group(1) or match.group(2)) + "}"


def _find(nodes: list, data) -> list:
    """FindResults with missing keys allowed, as custom columns and --sort-by run it; JSONPathError if it fails."""
    try:
        return _Executor(nodes, allow_missing=True).find_results(_as_served(data))
    except _Failed as failed:
        raise JSONPathError(str(failed)) from None


def _escape_terminal(text: str) -> str:
    # printers.EscapeTerminal keeps a value from driving the terminal (kubernetes#101695)
    return text.replace("\x1b", "^[").replace("\r", "\\r")


def custom_columns(spec: str, objects: list) -> tuple[list, list]:
    """`-o custom-columns=SPEC` over OBJECTS: the headers, and per object its cells (`<none>` where nothing matched)."""
    if not spec:
        raise JSONPathError("custom-columns format specified but no custom columns given")
    headers, templates = [], []
    for part in spec.split(","):
        header, colon, expression = part.partition(":")
        if not colon:
            raise JSONPathError(f"unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>")
        headers.append(header)
        templates.append(_relaxed(expression))
    columns = [_parse(template) for template in templates]
    rows = []
    for obj in objects:
        row = []
        for nodes in columns:
            results = _find(nodes, obj)
            cells = [] if results and results[0] else ["<none>"]
            cells += [_escape_terminal(_format_value(value)) for values in results for value in values]
            row.append(",".join(cells))
        rows.append(row)
    return headers, rows


_QUANTITY = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[+-]?[0-9]*)")
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_NANO = decimal.Decimal("1e-9")
_MAX_INT64 = decimal.Decimal(2 ** 63 - 1)


def _quantity(text: str) -> Optional[decimal.Decimal]:
    """TEXT's amount as resource.ParseQuantity reads it (`100m`, `1Gi`, `5e3`, `12345`), or None if it is none."""
    match = _QUANTITY.fullmatch(text)
    if not text or match is None:
        return None
    sign, whole, fraction, suffix = match.groups()
    context = decimal.Context(prec=len(text) + 30, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
    number = decimal.Decimal(f"{sign}{whole or 0}.{fraction or 0}")
    if suffix in _DECIMAL_SUFFIXES:
        amount = number.scaleb(_DECIMAL_SUFFIXES[suffix], context)
    elif suffix in _BINARY_SUFFIXES:
        amount = context.multiply(number, decimal.Decimal(2 ** _BINARY_SUFFIXES[suffix]))
        if abs(amount) > _MAX_INT64:
            amount = _MAX_INT64.copy_sign(amount)        # ParseQuantity caps binary amounts at the int64 maximum
    elif len(suffix) > 1 and suffix[0] in "eE" and (power := _atoi(suffix[1:])) is not None:
        amount = number.scaleb(power, context)
    else:
        return None
    if amount.as_tuple().exponent < -9:
        amount = amount.quantize(_NANO, rounding=decimal.ROUND_UP, context=context)   # finer than nano rounds up
    return amount


_MISSING = object()


def _sort_less(left, right) -> bool:
    """sorter.go's isLess for two decoded JSON values; _Failed for values it cannot order."""
    if left is None or right is None:
        return left is None and right is not None
    kind = _go_type(left)
    if kind not in ("int64", "float64", "string"):
        raise _Failed(f"unsortable type: {kind}")
    if kind != _go_type(right):
        raise _Failed("unsortable interface: interface")
    if kind == "string":
        left_amount, right_amount = _quantity(left), _quantity(right)
        if left_amount is not None and right_amount is not None:
            return left_amount < right_amount
    return left < right


def sort_objects(objects: list, expression: str) -> list:
    """OBJECTS in `--sort-by=EXPRESSION` order, stable; objects without the field first; JSONPathError as kubectl's."""
    if not objects or not expression:
        return list(objects)            # kubectl sorts only when --sort-by has a value
    template = _relaxed(expression)
    nodes = _parse(template)
    keys = []
    for obj in objects:
        results = _find(nodes, obj)
        keys.append(results[0][0] if results and results[0] else _MISSING)
    if all(key is _MISSING for key in keys):
        raise JSONPathError(f"couldn't find any field with path {go_quote(template)} in the list of objects")

    def compare(i: int, j: int) -> int:
        left, right = keys[i], keys[j]
        # sorter.go puts an object without the field before any other; among themselves they keep their order
        if left is _MISSING or right is _MISSING:
            return 0 if left is right else -1 if left is _MISSING else 1
        try:
            return -1 if _sort_less(left, right) else 1 if _sort_less(right, left) else 0
        except _Failed as failed:
            raise JSONPathError(f"Field {template} in *unstructured.Unstructured is an unsortable type: "
                                f"interface, err: {failed}") from None

    return [objects[i] for i in sorted(range(len(objects)), key=functools.cmp_to_key(compare))]
