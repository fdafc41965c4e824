//! FUNCTION2 records: what a server checks in a function library's code when it loads one
//! (the shebang line; a file whose library fails this is refused, "Failed loading library").

/// A library's shebang as the server reads it: the engine's name and the library's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shebang {
    /// The engine (`lua`; the server looks it up ignoring case).
    pub engine: Vec<u8>,
    /// The library's name (letters, digits and `_`).
    pub name: Vec<u8>,
}

/// Checks a FUNCTION2 library's shebang (V-F15) as Redis 7.0+ and Valkey read it
/// (`functionExtractLibMetaData`): the code starts with `#!`; its first line (up to the first
/// `\n`, with no NUL byte before it) is split into arguments as `sdssplitargs` splits a command
/// line (blanks between arguments; `"…"` with `\n`, `\xHH`-style escapes and `'…'` quoting; a
/// closing quote followed by a blank or the end); the first argument less its `#!` is the
/// engine, each other one is `name=<lib>` (the prefix in any case), exactly once; the name is
/// one or more of `[A-Za-z0-9_]`. So `#!lua  name=x\r\n` is a library `x`, while `#! lua
/// name=x` is refused ("Invalid metadata value given: lua").
pub fn check_shebang(code: &[u8]) -> Result<Shebang, String> {
    if !code.starts_with(b"#!") {
        return Err("function library does not start with a #! shebang".into());
    }
    // The server finds the line's end with `strchr`, which stops at a NUL byte.
    let line = match code.iter().position(|&b| b == b'\n' || b == 0) {
        Some(end) if code.get(end) == Some(&b'\n') => code.get(..end).unwrap_or(&[]),
        Some(_) => {
            return Err(
                "function library shebang line has a NUL byte before its newline (\"Invalid library metadata\")"
                    .into(),
            )
        }
        None => {
            return Err(
                "function library shebang line has no terminating newline (\"Invalid library metadata\")"
                    .into(),
            )
        }
    };
    let Some(parts) = split_args(line) else {
        return Err(
            "function library shebang line has an unbalanced quote (\"Invalid library metadata\")"
                .into(),
        );
    };
    let mut parts = parts.into_iter();
    let engine = parts
        .next()
        .and_then(|first| first.get(2..).map(<[u8]>::to_vec))
        .unwrap_or_default();
    let mut name: Option<Vec<u8>> = None;
    for p in parts {
        let value = p
            .get(..5)
            .filter(|prefix| prefix.eq_ignore_ascii_case(b"name="))
            .and_then(|_| p.get(5..));
        match value {
            Some(n) if name.is_none() => name = Some(n.to_vec()),
            Some(_) => return Err("function library shebang gives name= more than once".into()),
            None => {
                return Err(format!(
                    "function library shebang has an unknown argument {} (\"Invalid metadata value given\")",
                    crate::escape_bytes(&p, 40)
                ))
            }
        }
    }
    let Some(name) = name else {
        return Err(
            "function library shebang gives no name= (\"Library name was not given\")".into(),
        );
    };
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return Err(format!(
            "function library name {} is empty or has characters other than letters, digits and _",
            crate::escape_bytes(&name, 40)
        ));
    }
    if engine.is_empty() {
        return Err("function library shebang names no engine (\"Engine '' not found\")".into());
    }
    Ok(Shebang { engine, name })
}

/// C's `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Splits `line` into arguments as Redis's `sdssplitargs` does (the line holds no NUL byte
/// and no `\n`); `None` for an unbalanced quote or a closing quote followed by something
/// other than a blank.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while line.get(i).is_some_and(|&b| is_c_space(b)) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut cur = Vec::new();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = line.get(i).copied();
            let next = line.get(i + 1).copied();
            if in_dq {
                match (c, next) {
                    (None, _) => return None,
                    (Some(b'\\'), Some(b'x'))
                        if line.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
                            && line.get(i + 3).is_some_and(u8::is_ascii_hexdigit) =>
                    {
                        let hex = |at: usize| {
                            line.get(at)
                                .and_then(|&h| char::from(h).to_digit(16))
                                .unwrap_or(0) as u8
                        };
                        cur.push(hex(i + 2) * 16 + hex(i + 3));
                        i += 3;
                    }
                    (Some(b'\\'), Some(e)) => {
                        cur.push(match e {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        i += 1;
                    }
                    (Some(b'"'), n) => {
                        if n.is_some_and(|n| !is_c_space(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    (Some(b), _) => cur.push(b),
                }
            } else if in_sq {
                match (c, next) {
                    (None, _) => return None,
                    (Some(b'\\'), Some(b'\'')) => {
                        cur.push(b'\'');
                        i += 1;
                    }
                    (Some(b'\''), n) => {
                        if n.is_some_and(|n| !is_c_space(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    (Some(b), _) => cur.push(b),
                }
            } else {
                match c {
                    None => break,
                    Some(b' ' | b'\n' | b'\r' | b'\t') => {
                        i += 1;
                        break;
                    }
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(b) => cur.push(b),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(code: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let s = check_shebang(code).unwrap_or_else(|e| panic!("{code:?}: {e}"));
        (s.engine, s.name)
    }

    #[test]
    fn shebangs() {
        assert_eq!(
            ok(b"#!lua name=mylib\nreturn 1"),
            (b"lua".to_vec(), b"mylib".to_vec())
        );
        assert!(check_shebang(b"lua name=x\n").is_err());
        assert!(check_shebang(b"#!lua name=x").is_err());
        assert!(check_shebang(b"#!lua\n").is_err());
        assert!(check_shebang(b"#!lua name=a name=b\n").is_err());
        assert!(check_shebang(b"#!lua name=a foo=b\n").is_err());
        assert!(check_shebang(b"#!lua name=a-b\n").is_err());
    }

    /// What Redis 7.0's `FUNCTION LOAD` accepts and refuses (checked against the server).
    #[test]
    fn split_as_the_server_splits() {
        // Accepted by the server.
        assert_eq!(ok(b"#!lua name=crl\r\nx").1, b"crl");
        assert_eq!(ok(b"#!lua\tname=tabl\nx").1, b"tabl");
        assert_eq!(ok(b"#!lua name=\"ql\"\nx").1, b"ql");
        assert_eq!(ok(b"#!lua  NAME=up \nx").1, b"up");
        assert_eq!(ok(b"#!lua name=\"a\\x41\"\nx").1, b"aA");
        assert_eq!(ok(b"#!LUA name='s'\nx").0, b"LUA");
        // Refused by the server.
        let err = check_shebang(b"#! lua name=spl\nx").unwrap_err();
        assert!(err.contains("unknown argument \"lua\""), "{err}");
        assert!(check_shebang(b"#! name=x\nx").is_err(), "engine ''");
        assert!(check_shebang(b"#!lua name=\"q\nx").is_err(), "unbalanced");
        assert!(
            check_shebang(b"#!lua name=\"q\"x\nx").is_err(),
            "quote then text"
        );
        assert!(
            check_shebang(b"#!lua name=x\0\nx").is_err(),
            "NUL before newline"
        );
        assert!(
            check_shebang(b"#!lua name=\x0bx\nx").is_err(),
            "\\v is not a separator"
        );
    }
}
