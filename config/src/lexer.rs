//! Tokens of the configuration language, each with its line and column.
//!
//! Words are runs of characters up to whitespace, `;`, `{` or `}`; a word
//! that starts with `"` is a quoted string (escapes `\"`, `\\`, `\n`, `\t`,
//! `\r`; any other backslash is kept, as nginx does). `#` at the start of a
//! token comments out the rest of the line.

use crate::error::{Fail, Pos};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A bare word or a quoted string (its text is in [`Token::text`]).
    Word,
    /// `;`
    Semi,
    /// `{`
    Open,
    /// `}`
    Close,
    /// End of input.
    Eof,
}

/// One token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    /// The word's value (escapes resolved); empty for punctuation.
    pub(crate) text: String,
    /// Whether the word was written in double quotes.
    pub(crate) quoted: bool,
    pub(crate) pos: Pos,
    /// Just past its last character (where a missing `;` belongs).
    pub(crate) end: Pos,
}

/// Splits source text into tokens, one at a time.
#[derive(Debug)]
pub(crate) struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: u32,
    col: u32,
    /// Where "end of file" is reported: just past the last character, or on
    /// the final newline itself when the text ends with one.
    eof: Pos,
}

impl<'a> Lexer<'a> {
    /// A lexer over `src`.
    pub(crate) fn new(src: &'a str) -> Lexer<'a> {
        Lexer { chars: src.chars().peekable(), line: 1, col: 1, eof: eof_pos(src) }
    }

    /// Where the end of the input is reported.
    pub(crate) fn eof_pos(&self) -> Pos {
        self.eof
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    /// The next token.
    ///
    /// # Errors
    /// `unterminated string` (at the opening quote) and a quoted string glued
    /// to what follows it (`unexpected "x"`).
    pub(crate) fn next_token(&mut self) -> Result<Token, Fail> {
        loop {
            match self.chars.peek() {
                None => return Ok(punct(Kind::Eof, self.eof)),
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') => {
                    while let Some(&c) = self.chars.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                Some(_) => break,
            }
        }
        let pos = self.pos();
        match self.bump() {
            Some(';') => Ok(punct(Kind::Semi, pos)),
            Some('{') => Ok(punct(Kind::Open, pos)),
            Some('}') => Ok(punct(Kind::Close, pos)),
            Some('"') => self.quoted(pos),
            Some(first) => {
                let mut text = String::from(first);
                while let Some(&c) = self.chars.peek() {
                    if c.is_whitespace() || matches!(c, ';' | '{' | '}') {
                        break;
                    }
                    text.push(c);
                    self.bump();
                }
                Ok(Token { kind: Kind::Word, text, quoted: false, pos, end: self.pos() })
            }
            None => Ok(punct(Kind::Eof, self.eof)),
        }
    }

    fn quoted(&mut self, pos: Pos) -> Result<Token, Fail> {
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return Err(Fail::at(pos, "unterminated string")),
                Some('"') => break,
                Some('\\') => match self.bump() {
                    None => return Err(Fail::at(pos, "unterminated string")),
                    Some('"') => text.push('"'),
                    Some('\\') => text.push('\\'),
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('r') => text.push('\r'),
                    Some(other) => {
                        text.push('\\');
                        text.push(other);
                    }
                },
                Some(c) => text.push(c),
            }
        }
        match self.chars.peek() {
            Some(&c) if !(c.is_whitespace() || matches!(c, ';' | '{' | '}')) => {
                Err(Fail::at(self.pos(), format!("unexpected \"{c}\" after a quoted string")))
            }
            _ => Ok(Token { kind: Kind::Word, text, quoted: true, pos, end: self.pos() }),
        }
    }
}

fn punct(kind: Kind, pos: Pos) -> Token {
    let end = Pos { line: pos.line, col: pos.col.saturating_add(1) };
    Token { kind, text: String::new(), quoted: false, pos, end }
}

/// The position reported for "end of file".
fn eof_pos(src: &str) -> Pos {
    let body = src.strip_suffix('\n').unwrap_or(src);
    let line = body.matches('\n').count();
    let last = body.rsplit('\n').next().unwrap_or("");
    let col = last.chars().count();
    Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX - 1).saturating_add(1),
        col: u32::try_from(col).unwrap_or(u32::MAX - 1).saturating_add(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(src: &str) -> Result<Vec<(Kind, String, u32, u32)>, Fail> {
        let mut lx = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token()?;
            let done = t.kind == Kind::Eof;
            out.push((t.kind, t.text, t.pos.line, t.pos.col));
            if done {
                return Ok(out);
            }
        }
    }

    fn w(s: &str, line: u32, col: u32) -> (Kind, String, u32, u32) {
        (Kind::Word, s.to_string(), line, col)
    }

    fn p(kind: Kind, line: u32, col: u32) -> (Kind, String, u32, u32) {
        (kind, String::new(), line, col)
    }

    #[test]
    fn words_punctuation_and_positions() {
        let toks = lex("listen 80;\nserver {\n  root www; }\n").unwrap();
        assert_eq!(
            toks,
            vec![
                w("listen", 1, 1),
                w("80", 1, 8),
                p(Kind::Semi, 1, 10),
                w("server", 2, 1),
                p(Kind::Open, 2, 8),
                w("root", 3, 3),
                w("www", 3, 8),
                p(Kind::Semi, 3, 11),
                p(Kind::Close, 3, 13),
                p(Kind::Eof, 3, 14),
            ]
        );
    }

    #[test]
    fn comments_run_to_end_of_line() {
        let toks = lex("# a comment ; { }\nroot x; # trailing\n#last").unwrap();
        assert_eq!(
            toks,
            vec![w("root", 2, 1), w("x", 2, 6), p(Kind::Semi, 2, 7), p(Kind::Eof, 3, 6)]
        );
    }

    #[test]
    fn hash_inside_a_word_is_literal() {
        let toks = lex("a#b;").unwrap();
        assert_eq!(toks[0], w("a#b", 1, 1));
    }

    #[test]
    fn quoted_strings_and_escapes() {
        let toks = lex(r#"x "a b" "q\"q" "b\\s" "n\nt\t" "\d" "{;}";"#).unwrap();
        let words: Vec<&str> = toks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(words, ["x", "a b", "q\"q", "b\\s", "n\nt\t", "\\d", "{;}", "", ""]);
        assert_eq!(toks[1].3, 3);
    }

    #[test]
    fn quoted_string_may_span_lines() {
        let toks = lex("\"a\nb\" c").unwrap();
        assert_eq!(toks[0], w("a\nb", 1, 1));
        assert_eq!(toks[1], w("c", 2, 4));
    }

    #[test]
    fn unterminated_string_points_at_the_quote() {
        let e = lex("root \"abc;\n").unwrap_err();
        assert_eq!(e, Fail::at(Pos { line: 1, col: 6 }, "unterminated string"));
        let e = lex("root \"abc\\").unwrap_err();
        assert_eq!(e.message, "unterminated string");
    }

    #[test]
    fn quoted_string_glued_to_a_word() {
        let e = lex("root \"a\"b;").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 9 });
        assert_eq!(e.message, "unexpected \"b\" after a quoted string");
    }

    #[test]
    fn tokens_know_where_they_end() {
        let mut lx = Lexer::new("root \"a b\"\n  www;");
        let ends: Vec<(u32, u32)> = std::iter::from_fn(|| {
            let t = lx.next_token().ok()?;
            (t.kind != Kind::Eof).then_some((t.end.line, t.end.col))
        })
        .collect();
        assert_eq!(ends, [(1, 5), (1, 11), (2, 6), (2, 7)]);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let toks = lex("éé x;").unwrap();
        assert_eq!(toks[1], w("x", 1, 4));
    }

    #[test]
    fn eof_position() {
        assert_eq!(eof_pos(""), Pos { line: 1, col: 1 });
        assert_eq!(eof_pos("ab"), Pos { line: 1, col: 3 });
        assert_eq!(eof_pos("ab\n"), Pos { line: 1, col: 3 });
        assert_eq!(eof_pos("ab\ncd\n\n"), Pos { line: 3, col: 1 });
    }
}
