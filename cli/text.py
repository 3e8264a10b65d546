"""Text from the server made safe for a terminal: object keys, descriptions and messages come from other
people, and a control character in them (a newline, a carriage return, an escape sequence, a bidi override)
could fake or hide lines of the output. Each is shown as an escape instead, e.g. `\\n`, `\\x1b`."""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
# Characters that reorder or hide what follows them on screen.
_INVISIBLE = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {
    code: _NAMED.get(chr(code)) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in [*_CONTROLS, *_INVISIBLE]
}


def shown(text: str) -> str:
    """`text` with every control and bidi character as a visible escape."""
    return text.translate(_ESCAPES)
