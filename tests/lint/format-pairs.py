#!/usr/bin/env python3
"""Every bilingual message pair in the C sources whose two formats share
one argument list (cat_diagf() in forms/catalog-*.c, cli_msg() in agent/) must
use the same printf conversions in the same order, or the Chinese
message would read the wrong argument. The compiler checks only the
English one. Usage: format-pairs.py FILE..."""
import re
import sys

STR = r'"(?:[^"\\]|\\.)*"'
# a Chinese format literal followed by an English one, or (cli_msg) the reverse
PAIR = re.compile(r'(' + STR + r'(?:\s*' + STR + r')*)\s*,\s*(' + STR + r'(?:\s*' + STR + r')*)')
CONV = re.compile(r'%(\d+\$)?([-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|z|j|t)?[diouxXcsp%])')
CJK = re.compile(r'[\u3000-\u9fff\uff00-\uffef]')


def literal(s):
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', s))


def args(fmt):
    """The argument types a format consumes, in argument order (positional
    %n$ conversions are put at their index; a gap is None)."""
    out = {}
    k = 0
    for pos, conv in CONV.findall(fmt):
        if conv == "%":
            continue
        # precision/width '*' consume an int argument of their own
        stars = conv.count("*")
        kind = re.sub(r'^[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?', '', conv)
        if pos:
            out[int(pos[:-1]) - 1] = kind
            continue
        for _ in range(stars):
            out[k] = "int*"
            k += 1
        out[k] = kind
        k += 1
    return [out.get(i) for i in range(max(out) + 1)] if out else []


def main():
    bad = 0
    pairs = 0
    for path in sys.argv[1:]:
        text = open(path, encoding="utf-8").read()
        for m in PAIR.finditer(text):
            a, b = literal(m.group(1)), literal(m.group(2))
            if bool(CJK.search(a)) == bool(CJK.search(b)):
                continue
            ca, cb = args(a), args(b)
            pairs += 1
            # One may use fewer arguments than the other (a trailing
            # English-only word), but those it uses must agree.
            n = min(len(ca), len(cb))
            if ca[:n] != cb[:n] or None in ca + cb:
                line = text.count("\n", 0, m.start()) + 1
                print(f"{path}:{line}: conversions differ: {ca} vs {cb}\n  {a}\n  {b}")
                bad += 1
    print(f"{pairs} message pairs checked, {bad} mismatched")
    if pairs == 0:
        print("no pairs found: the pattern is broken")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
