//! FUNCTION2 records: what a server checks in a function library's code when it loads one
//! (the shebang line; a file whose library fails this is refused, "Failed loading library").

/// Checks a FUNCTION2 library's shebang (V-F15): `#!<engine> name=<lib>\n`, exactly one `name=`
/// and no other argument, a name of `[A-Za-z0-9_]`. Returns (engine, name).
pub fn check_shebang(code: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let Some(rest) = code.strip_prefix(b"#!") else {
        return Err("function library does not start with a #! shebang".into());
    };
    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
        return Err("function library shebang line has no terminating newline".into());
    };
    let line = rest.get(..nl).unwrap_or(&[]);
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let Some(engine) = parts.next() else {
        return Err("function library shebang names no engine".into());
    };
    let mut name: Option<&[u8]> = None;
    for p in parts {
        match p.strip_prefix(b"name=") {
            Some(n) if name.is_none() => name = Some(n),
            Some(_) => return Err("function library shebang gives name= more than once".into()),
            None => {
                return Err(format!(
                    "function library shebang has an unknown argument {}",
                    crate::escape_bytes(p, 40)
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
            crate::escape_bytes(name, 40)
        ));
    }
    Ok((engine, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(
            check_shebang(b"#!lua name=mylib\nreturn 1").unwrap(),
            (&b"lua"[..], &b"mylib"[..])
        );
        assert!(check_shebang(b"lua name=x\n").is_err());
        assert!(check_shebang(b"#!lua name=x").is_err());
        assert!(check_shebang(b"#!lua\n").is_err());
        assert!(check_shebang(b"#!lua name=a name=b\n").is_err());
        assert!(check_shebang(b"#!lua name=a foo=b\n").is_err());
        assert!(check_shebang(b"#!lua name=a-b\n").is_err());
    }
}
