# json.awk: a small, strict JSON reader for busybox awk (the guest has no jq).
#
#   awk -v want=PATH -f /usr/share/oxistack/json.awk FILE
#
# prints the value of every leaf whose path matches PATH, one per line. PATH is
# a dot-separated list of object keys or array indexes (counted from 0) where
# `*` matches any single key or index:
#
#   hostname          the top-level "hostname" string
#   public_keys.*     every value of the "public_keys" object
#   keys.*.data       the "data" member of every element of the "keys" array
#
# Strings are unescaped (\n, \t, \", \\, \/, \uXXXX as UTF-8), so a value may
# itself span several lines. Only leaves (strings, numbers, true/false/null)
# are printed; objects and arrays are walked. Exits 1 on malformed input,
# after printing nothing.

function fail(msg) {
    if (!err) printf("json.awk: %s at offset %d\n", msg, pos) > "/dev/stderr"
    err = 1
    pos = len + 1
}

function ch() { return substr(s, pos, 1) }

function skip_ws(   c) {
    while (pos <= len) {
        c = substr(s, pos, 1)
        if (c == " " || c == "\t" || c == "\n" || c == "\r") pos++
        else break
    }
}

function hexval(h,   i, c, v) {
    v = 0
    for (i = 1; i <= length(h); i++) {
        c = index("0123456789abcdef", tolower(substr(h, i, 1)))
        if (c == 0) return -1
        v = v * 16 + (c - 1)
    }
    return v
}

function utf8(n) {
    if (n < 128) return sprintf("%c", n)
    if (n < 2048) return sprintf("%c%c", 192 + int(n / 64), 128 + n % 64)
    return sprintf("%c%c%c", 224 + int(n / 4096), 128 + int(n / 64) % 64, 128 + n % 64)
}

# pos is on the opening quote; returns the unescaped string, pos after the closing quote.
function parse_string(   out, c, e, n, run) {
    pos++
    out = ""
    while (pos <= len) {
        # copy a run of plain characters at once (keeps long keys fast)
        run = substr(s, pos)
        n = match(run, /["\\]/)
        if (n == 0) break
        out = out substr(run, 1, n - 1)
        pos += n - 1
        c = substr(s, pos, 1)
        if (c == "\"") { pos++; return out }
        # backslash escape
        e = substr(s, pos + 1, 1)
        pos += 2
        if (e == "n") out = out "\n"
        else if (e == "t") out = out "\t"
        else if (e == "r") out = out "\r"
        else if (e == "b") out = out "\b"
        else if (e == "f") out = out "\f"
        else if (e == "\"" || e == "\\" || e == "/") out = out e
        else if (e == "u") {
            n = hexval(substr(s, pos, 4))
            if (n < 0) { fail("bad \\u escape"); return "" }
            pos += 4
            # a surrogate pair cannot be written by this reader: keep a marker
            if (n >= 55296 && n <= 57343) out = out "?"
            else out = out utf8(n)
        } else { fail("bad escape"); return "" }
    }
    fail("unterminated string")
    return ""
}

function emit(path, v,   np, nw, i) {
    np = split(path, pp, SUBSEP)
    if (path == "") np = 0
    if (np != nwant) return
    for (i = 1; i <= np; i++)
        if (wantp[i] != "*" && wantp[i] != pp[i]) return
    out_n++
    out_v[out_n] = v
}

function child(path, k) { return path == "" ? k : path SUBSEP k }

function parse_value(path,   c, key, i, lit) {
    skip_ws()
    if (pos > len) { fail("unexpected end"); return }
    c = ch()
    if (c == "{") {
        pos++
        skip_ws()
        if (ch() == "}") { pos++; return }
        while (pos <= len) {
            skip_ws()
            if (ch() != "\"") { fail("expected a key"); return }
            key = parse_string()
            skip_ws()
            if (ch() != ":") { fail("expected ':'"); return }
            pos++
            parse_value(child(path, key))
            skip_ws()
            c = ch()
            pos++
            if (c == "}") return
            if (c != ",") { fail("expected ',' or '}'"); return }
        }
        fail("unterminated object")
    } else if (c == "[") {
        pos++
        skip_ws()
        if (ch() == "]") { pos++; return }
        i = 0
        while (pos <= len) {
            parse_value(child(path, i))
            i++
            skip_ws()
            c = ch()
            pos++
            if (c == "]") return
            if (c != ",") { fail("expected ',' or ']'"); return }
        }
        fail("unterminated array")
    } else if (c == "\"") {
        emit(path, parse_string())
    } else {
        lit = substr(s, pos)
        if (!match(lit, /^(true|false|null|-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)/)) {
            fail("unexpected character")
            return
        }
        emit(path, substr(lit, 1, RLENGTH))
        pos += RLENGTH
    }
}

{ s = (NR == 1) ? $0 : s "\n" $0 }

END {
    if (want == "") { print "json.awk: set -v want=PATH" > "/dev/stderr"; exit 2 }
    nwant = split(want, wantp, ".")
    len = length(s)
    pos = 1
    err = 0
    out_n = 0
    parse_value("")
    skip_ws()
    if (!err && pos <= len) fail("trailing data")
    if (err) exit 1
    for (i = 1; i <= out_n; i++) print out_v[i]
}
