"""Every ctypes struct mirror in mva._lib against the C compiler: a C program generated from
the mirrors' field names prints sizeof and offsetof of each; a renamed, added, moved or
retyped field on either side fails here (or fails to compile, which fails here too)."""
import ctypes
import os
import subprocess

from conftest import ROOT

import mva._lib as L


def test_struct_mirrors_match_the_c_headers(tmp_path):
    headers = sorted(os.listdir(os.path.join(ROOT, "include", "mva")))
    lines = ["#include <stddef.h>", "#include <stdio.h>"]
    lines += ['#include "mva/%s"' % h for h in headers if h.endswith(".h")]
    lines += ["int main(void)", "{"]
    expect = []
    for cname, cls in L.STRUCTS.items():
        lines.append('    printf("%%zu\\n", sizeof(%s));' % cname)
        expect.append(("sizeof(%s)" % cname, ctypes.sizeof(cls)))
        for fname, _ in cls._fields_:
            cf = L.C_FIELD_NAMES.get(fname, fname)
            lines.append('    printf("%%zu\\n", offsetof(%s, %s));' % (cname, cf))
            expect.append(("offsetof(%s, %s)" % (cname, cf), getattr(cls, fname).offset))
    lines += ["    return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    cc = os.environ.get("CC", "cc")
    r = subprocess.run([cc, "-std=c11", "-I", os.path.join(ROOT, "include"), str(src), "-o",
                        str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, "the mirrors name fields the C structs lack:\n" + r.stderr
    got = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert len(got) == len(expect)
    wrong = ["%s: C %s, ctypes %d" % (what, g, want)
             for (what, want), g in zip(expect, got) if int(g) != want]
    assert not wrong, "ctypes mirrors out of step with include/mva/*.h:\n" + "\n".join(wrong)


def test_every_c_field_is_mirrored(tmp_path):
    """The last field's end, rounded to the struct's alignment, is the struct's size: a field
    added at the end of a C struct shows up as a size difference above; this checks the
    mirrors have no gap either (a field missing in the middle)."""
    for cname, cls in L.STRUCTS.items():
        end = 0
        for fname, ftype in cls._fields_:
            off = getattr(cls, fname).offset
            assert off - end < ctypes.alignment(ftype), "%s: gap before %s" % (cname, fname)
            end = off + ctypes.sizeof(ftype)


def _declarations():
    """Every function declared in include/mva/*.h: name -> (return type, parameter list)."""
    import re
    decls = {}
    inc = os.path.join(ROOT, "include", "mva")
    for h in os.listdir(inc):
        text = open(os.path.join(inc, h)).read()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        for m in re.finditer(r"([A-Za-z_][\w \t\*]*?)\b(mva_\w+)\s*\(([^()]*)\)\s*(?:;|\n\s*#if)",
                             text):
            decls[m.group(2)] = (m.group(1).strip(), m.group(3))
    return decls


def test_function_prototypes_match_the_headers():
    """Each ctypes prototype has as many parameters as the C declaration, and returns
    nothing exactly when C returns void: an added, removed or renamed parameter or function
    fails here instead of corrupting the stack at run time."""
    decls = _declarations()
    wrong = []
    for name, (restype, argtypes) in L.PROTOS.items():
        if name not in decls:
            wrong.append("%s: not declared in include/mva/*.h" % name)
            continue
        ret, params = decls[name]
        params = " ".join(params.split())
        n = 0 if params in ("", "void") else params.count(",") + 1
        if n != len(argtypes):
            wrong.append("%s: C has %d parameters (%s), ctypes %d" % (name, n, params,
                                                                     len(argtypes)))
        if (ret == "void") != (restype is None):
            wrong.append("%s: C returns %s, ctypes %s" % (name, ret, restype))
    assert not wrong, "\n".join(wrong)
