//! Tokenizer and parser for the oslo.policy rule language.
//!
//! The grammar (oslo's precedence: `not` > `and` > `or`, parentheses group):
//!
//! ```text
//! rule     := <empty> | or_expr
//! or_expr  := and_expr ("or" and_expr)*
//! and_expr := not_expr ("and" not_expr)*
//! not_expr := "not" not_expr | atom
//! atom     := "(" or_expr ")" | check
//! check    := "@" | "!" | kind ":" match
//! ```
//!
//! Tokens are whitespace-separated words; leading `(` and trailing `)` are peeled off a
//! word (so `%(project_id)s` keeps its parentheses), and `and`/`or`/`not` are recognised
//! case-insensitively — exactly as oslo's tokenizer does. oslo's shift-reduce parser
//! yields the same trees as this recursive-descent one for every rule it accepts; where
//! oslo would silently turn a malformed rule into "deny", this parser reports an error.

use crate::eval::py_float_repr;

/// Deepest nesting of parentheses / `not` accepted, to bound recursion on hostile input.
const MAX_DEPTH: usize = 128;

/// A parsed rule expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// `@` or the empty rule.
    Always,
    /// `!`.
    Never,
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `rule:<name>`; `index` is filled in when the rule set is linked.
    Rule {
        name: Box<str>,
        index: usize,
    },
    /// `role:<template>`, compared case-insensitively with the credential roles.
    Role(Template),
    /// `<kind>:<template>`, a credential attribute (or literal) compared with the template.
    Generic {
        kind: Kind,
        value: Template,
    },
}

/// Placeholder index of a `rule:` reference that has not been linked yet.
pub(crate) const UNLINKED: usize = usize::MAX;

/// The left-hand side of a generic check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A Python literal (`'member'`, `True`, `20`, ...), already rendered as `str()` would.
    Literal(Box<str>),
    /// A credential attribute.
    Attr(CredAttr),
}

/// A credential attribute named by a generic check's kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CredAttr {
    UserId,
    ProjectId,
    DomainId,
    /// `roles`: matches if any role equals the value (case-sensitively, as oslo's generic check).
    Roles,
    SystemScope,
    /// `system`: oslo's alias of `system_scope`, present only when that is non-empty.
    System,
    IsAdmin,
    Extra(Box<str>),
}

/// The right-hand side of a check, possibly with `%(key)s` substitutions from the target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Template {
    /// No substitution.
    Literal(Box<str>),
    /// Exactly `%(key)s`: the common case, rendered without allocating.
    Key(Box<str>),
    /// Text and substitutions mixed.
    Mixed(Box<[Piece]>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(Box<str>),
    Key(Box<str>),
}

/// A parse failure: byte offset into the rule text and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseFailure {
    pub(crate) offset: usize,
    pub(crate) message: String,
}

impl ParseFailure {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        ParseFailure {
            offset,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Quoted,
    Check(&'a str),
}

impl Tok<'_> {
    fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::And => "'and'".into(),
            Tok::Or => "'or'".into(),
            Tok::Not => "'not'".into(),
            Tok::Quoted => "a quoted string".into(),
            Tok::Check(c) => format!("check {c:?}"),
        }
    }
}

/// Splits a rule into tokens with their byte offsets, following oslo's `_parse_tokenize`.
fn tokenize(text: &str) -> Vec<(usize, Tok<'_>)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut base = 0;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        let end = rest[start..]
            .find(char::is_whitespace)
            .map_or(rest.len(), |i| start + i);
        let word = &rest[start..end];
        let word_at = base + start;

        let body = word.trim_start_matches('(');
        let leading = word.len() - body.len();
        for i in 0..leading {
            out.push((word_at + i, Tok::LParen));
        }
        let body_at = word_at + leading;
        if !body.is_empty() {
            let clean = body.trim_end_matches(')');
            if clean.eq_ignore_ascii_case("and") {
                out.push((body_at, Tok::And));
            } else if clean.eq_ignore_ascii_case("or") {
                out.push((body_at, Tok::Or));
            } else if clean.eq_ignore_ascii_case("not") {
                out.push((body_at, Tok::Not));
            } else if !clean.is_empty() {
                let b = body.as_bytes();
                let quoted =
                    b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0];
                if quoted {
                    // oslo looks at the word before stripping `)`, so a quoted word
                    // never has trailing parentheses to emit.
                    out.push((body_at, Tok::Quoted));
                    base += end;
                    rest = &rest[end..];
                    continue;
                }
                out.push((body_at, Tok::Check(clean)));
            }
            for i in clean.len()..body.len() {
                out.push((body_at + i, Tok::RParen));
            }
        }
        base += end;
        rest = &rest[end..];
    }
    out
}

struct Parser<'a> {
    toks: Vec<(usize, Tok<'a>)>,
    pos: usize,
    end: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<(usize, Tok<'a>)> {
        self.toks.get(self.pos).copied()
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, ParseFailure> {
        let mut items = vec![self.and_expr(depth)?];
        while let Some((_, Tok::Or)) = self.peek() {
            self.pos += 1;
            items.push(self.and_expr(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::Never)
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, ParseFailure> {
        let mut items = vec![self.not_expr(depth)?];
        while let Some((_, Tok::And)) = self.peek() {
            self.pos += 1;
            items.push(self.not_expr(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::Never)
        } else {
            Expr::And(items)
        })
    }

    fn not_expr(&mut self, depth: usize) -> Result<Expr, ParseFailure> {
        let Some((at, tok)) = self.peek() else {
            return Err(ParseFailure::new(
                self.end,
                "unexpected end of rule, expected a check",
            ));
        };
        if depth > MAX_DEPTH {
            return Err(ParseFailure::new(at, "rule is nested too deeply"));
        }
        self.pos += 1;
        match tok {
            Tok::Not => Ok(Expr::Not(Box::new(self.not_expr(depth + 1)?))),
            Tok::LParen => {
                let inner = self.or_expr(depth + 1)?;
                match self.peek() {
                    Some((_, Tok::RParen)) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    Some((p, t)) => Err(ParseFailure::new(
                        p,
                        format!("expected 'and', 'or' or ')', found {}", t.describe()),
                    )),
                    None => Err(ParseFailure::new(at, "'(' is never closed".to_string())),
                }
            }
            Tok::Check(text) => parse_check(text, at),
            Tok::Quoted => Err(ParseFailure::new(
                at,
                "a quoted string is not a check (expected kind:value)",
            )),
            Tok::RParen | Tok::And | Tok::Or => Err(ParseFailure::new(
                at,
                format!("expected a check, found {}", tok.describe()),
            )),
        }
    }
}

/// Parses a whole rule string.
pub(crate) fn parse_rule(text: &str) -> Result<Expr, ParseFailure> {
    // oslo: the empty string is "always"; a whitespace-only rule fails to parse.
    if text.is_empty() {
        return Ok(Expr::Always);
    }
    let toks = tokenize(text);
    if toks.is_empty() {
        return Err(ParseFailure::new(
            0,
            "rule is blank (use \"\" or \"@\" to always allow)",
        ));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end: text.len(),
    };
    let expr = p.or_expr(0)?;
    if let Some((at, tok)) = p.peek() {
        let message = match tok {
            Tok::RParen => "unbalanced ')'".to_string(),
            t => format!("expected 'and' or 'or', found {}", t.describe()),
        };
        return Err(ParseFailure::new(at, message));
    }
    Ok(expr)
}

/// Parses one `kind:match` check (or `@` / `!`); `at` is its byte offset in the rule.
fn parse_check(text: &str, at: usize) -> Result<Expr, ParseFailure> {
    match text {
        "@" => return Ok(Expr::Always),
        "!" => return Ok(Expr::Never),
        _ => {}
    }
    let Some((kind, value)) = text.split_once(':') else {
        return Err(ParseFailure::new(
            at,
            format!("check {text:?} is not of the form kind:value, '@' or '!'"),
        ));
    };
    let value_at = at + kind.len() + 1;
    match kind {
        "" => Err(ParseFailure::new(
            at,
            format!("check {text:?} has an empty kind"),
        )),
        "rule" if value.is_empty() => Err(ParseFailure::new(
            value_at,
            "rule: check without a rule name",
        )),
        "rule" => Ok(Expr::Rule {
            name: value.into(),
            index: UNLINKED,
        }),
        "role" => Ok(Expr::Role(parse_template(value, value_at)?)),
        "http" | "https" => Err(ParseFailure::new(
            at,
            format!("remote {kind}: checks are not supported"),
        )),
        _ => Ok(Expr::Generic {
            kind: parse_kind(kind, at)?,
            value: parse_template(value, value_at)?,
        }),
    }
}

/// Parses the right-hand side of a check: text with `%(key)s` substitutions and `%%`.
fn parse_template(s: &str, at: usize) -> Result<Template, ParseFailure> {
    if !s.contains('%') {
        return Ok(Template::Literal(s.into()));
    }
    let mut pieces = Vec::new();
    let mut text = String::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut lit_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        text.push_str(&s[lit_start..i]);
        match bytes.get(i + 1) {
            Some(b'%') => {
                text.push('%');
                i += 2;
            }
            Some(b'(') => {
                // Python matches nested parentheses inside the key.
                let mut level = 1;
                let mut j = i + 2;
                while j < bytes.len() && level > 0 {
                    match bytes[j] {
                        b'(' => level += 1,
                        b')' => level -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                if level > 0 {
                    return Err(ParseFailure::new(
                        at + i,
                        "unterminated %(...) substitution",
                    ));
                }
                let key = &s[i + 2..j - 1];
                if key.is_empty() {
                    return Err(ParseFailure::new(at + i, "empty %() substitution key"));
                }
                if bytes.get(j) != Some(&b's') {
                    return Err(ParseFailure::new(
                        at + j,
                        format!("substitution %({key}) must be followed by 's'"),
                    ));
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text).into()));
                }
                pieces.push(Piece::Key(key.into()));
                i = j + 1;
            }
            _ => {
                return Err(ParseFailure::new(
                    at + i,
                    "stray '%' (use %(key)s to substitute, %% for a literal '%')",
                ))
            }
        }
        lit_start = i;
    }
    text.push_str(&s[lit_start..]);
    if !text.is_empty() {
        pieces.push(Piece::Text(text.into()));
    }
    Ok(match pieces.as_slice() {
        [] => Template::Literal("".into()),
        [Piece::Text(t)] => Template::Literal(t.clone()),
        [Piece::Key(k)] => Template::Key(k.clone()),
        _ => Template::Mixed(pieces.into_boxed_slice()),
    })
}

/// Classifies the kind of a generic check: a Python literal (as `ast.literal_eval` would
/// accept) or a credential attribute name.
fn parse_kind(kind: &str, at: usize) -> Result<Kind, ParseFailure> {
    if let Some(lit) = python_literal(kind, at)? {
        return Ok(Kind::Literal(lit.into()));
    }
    Ok(Kind::Attr(match kind {
        "user_id" => CredAttr::UserId,
        "project_id" => CredAttr::ProjectId,
        "domain_id" => CredAttr::DomainId,
        "roles" => CredAttr::Roles,
        "system_scope" => CredAttr::SystemScope,
        "system" => CredAttr::System,
        "is_admin" => CredAttr::IsAdmin,
        other => CredAttr::Extra(other.into()),
    }))
}

/// If `s` is a Python literal of a kind policies use (string, `True`/`False`/`None`,
/// integer, float), returns what `str()` of its value is.
fn python_literal(s: &str, at: usize) -> Result<Option<String>, ParseFailure> {
    match s {
        "True" | "False" | "None" => return Ok(Some(s.to_string())),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first == b'\'' || first == b'"' {
        return python_string(s, at).map(Some);
    }
    let (neg, unsigned) = match s.strip_prefix('-') {
        Some(u) => (true, u),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if unsigned.is_empty() || !unsigned.as_bytes()[0].is_ascii_digit() && !unsigned.starts_with('.')
    {
        return Ok(None);
    }
    if !valid_underscores(unsigned) {
        return Ok(None);
    }
    let digits: String = unsigned.chars().filter(|&c| c != '_').collect();
    let sign = |v: String| if neg && v != "0" { format!("-{v}") } else { v };

    // Integers: decimal (no leading zeros, except for zero itself), or 0x / 0o / 0b.
    let lower = digits.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            return Ok(u128::from_str_radix(rest, radix)
                .ok()
                .map(|v| sign(v.to_string())));
        }
    }
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        let trimmed = digits.trim_start_matches('0');
        if trimmed.is_empty() {
            return Ok(Some("0".to_string()));
        }
        if trimmed.len() != digits.len() {
            return Ok(None); // `007` is a syntax error in Python 3
        }
        return Ok(Some(sign(digits)));
    }
    // Floats: digits with a '.' and/or an exponent; reject `inf`/`nan` spellings.
    let float_chars = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if float_chars {
        if let Ok(v) = digits.parse::<f64>() {
            return Ok(Some(py_float_repr(if neg { -v } else { v })));
        }
    }
    Ok(None)
}

/// Python allows single underscores between digits only.
fn valid_underscores(s: &str) -> bool {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let prev_ok = i > 0 && b[i - 1].is_ascii_alphanumeric();
            let next_ok = i + 1 < b.len() && b[i + 1].is_ascii_alphanumeric();
            if !prev_ok || !next_ok {
                return false;
            }
        }
    }
    true
}

/// Decodes a single- or double-quoted Python string literal.
fn python_string(s: &str, at: usize) -> Result<String, ParseFailure> {
    let quote = s.chars().next().unwrap_or('\'');
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if c == quote {
            if i + c.len_utf8() != s.len() {
                return Err(ParseFailure::new(
                    at + i,
                    "text after the closing quote of a string literal",
                ));
            }
            return Ok(out);
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, e)) => match e {
                '\\' | '\'' | '"' => out.push(e),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                other => {
                    // Python keeps unknown escapes verbatim.
                    out.push('\\');
                    out.push(other);
                }
            },
            None => break,
        }
    }
    Err(ParseFailure::new(at, "unterminated string literal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Option<String> {
        python_literal(s, 0).unwrap()
    }

    #[test]
    fn python_literals() {
        assert_eq!(lit("True").as_deref(), Some("True"));
        assert_eq!(lit("None").as_deref(), Some("None"));
        assert_eq!(lit("'member'").as_deref(), Some("member"));
        assert_eq!(lit("\"member\"").as_deref(), Some("member"));
        assert_eq!(lit("'it\\'s'").as_deref(), Some("it's"));
        assert_eq!(lit("20").as_deref(), Some("20"));
        assert_eq!(lit("-20").as_deref(), Some("-20"));
        assert_eq!(lit("+20").as_deref(), Some("20"));
        assert_eq!(lit("-0").as_deref(), Some("0"));
        assert_eq!(lit("000").as_deref(), Some("0"));
        assert_eq!(lit("1_000").as_deref(), Some("1000"));
        assert_eq!(lit("0x1F").as_deref(), Some("31"));
        assert_eq!(lit("1.5").as_deref(), Some("1.5"));
        assert_eq!(lit("1e3").as_deref(), Some("1000.0"));
        assert_eq!(lit("007"), None);
        assert_eq!(lit("1__0"), None);
        assert_eq!(lit("inf"), None);
        assert_eq!(lit("nan"), None);
        assert_eq!(lit("true"), None);
        assert_eq!(lit("project_id"), None);
        assert_eq!(lit("user.id"), None);
        assert!(python_literal("'abc", 0).is_err());
        assert!(python_literal("'a'b'", 0).is_err());
    }

    #[test]
    fn templates() {
        assert_eq!(
            parse_template("abc", 0).unwrap(),
            Template::Literal("abc".into())
        );
        assert_eq!(
            parse_template("%(a.b)s", 0).unwrap(),
            Template::Key("a.b".into())
        );
        assert_eq!(
            parse_template("100%%", 0).unwrap(),
            Template::Literal("100%".into())
        );
        assert_eq!(
            parse_template("x-%(a)s-%%", 0).unwrap(),
            Template::Mixed(
                vec![
                    Piece::Text("x-".into()),
                    Piece::Key("a".into()),
                    Piece::Text("-%".into())
                ]
                .into()
            )
        );
        assert_eq!(
            parse_template("%(f(x))s", 0).unwrap(),
            Template::Key("f(x)".into())
        );
        assert_eq!(parse_template("ab%(x)d", 3).unwrap_err().offset, 9);
        assert_eq!(parse_template("ab%", 3).unwrap_err().offset, 5);
        assert!(parse_template("%(x", 0).is_err());
        assert!(parse_template("%()s", 0).is_err());
    }

    #[test]
    fn tokens_keep_substitution_parentheses() {
        let toks: Vec<_> = tokenize("((role:a) OR\tproject_id:%(project_id)s)")
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(
            toks,
            vec![
                Tok::LParen,
                Tok::LParen,
                Tok::Check("role:a"),
                Tok::RParen,
                Tok::Or,
                Tok::Check("project_id:%(project_id)s"),
                Tok::RParen,
            ]
        );
    }
}
