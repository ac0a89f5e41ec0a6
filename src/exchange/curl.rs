//! Credentials from a browser's "Copy as cURL" (B10): the `-H` headers and the cookie (`-b`,
//! `--cookie`, or a `cookie:` header), read with shell quoting rules. HTTP/2 pseudo-headers
//! and headers that describe the copied request itself are dropped.

use std::collections::BTreeMap;

/// Headers that belong to the copied request, not to the session.
const DROPPED: &[&str] = &[
    "content-length",
    "content-type",
    "host",
    "accept-encoding",
    "connection",
];

#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub headers: BTreeMap<String, String>,
    pub cookies: String,
}

/// Splits a shell command line into words: single and double quotes, backslash escapes,
/// `$'...'` strings, and backslash-newline continuations (as every browser writes them).
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') | Some('\r') => {}
                Some(n) => {
                    cur.push(n);
                    in_word = true;
                }
                None => {}
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err("an unclosed single quote".into()),
                    }
                }
            }
            '$' if chars.peek() == Some(&'\'') => {
                chars.next();
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => cur.push('\n'),
                            Some('t') => cur.push('\t'),
                            Some(n) => cur.push(n),
                            None => return Err("an unclosed $'...' string".into()),
                        },
                        Some(n) => cur.push(n),
                        None => return Err("an unclosed $'...' string".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err("an unclosed double quote".into()),
                        },
                        Some(n) => cur.push(n),
                        None => return Err("an unclosed double quote".into()),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Reads the session out of a "Copy as cURL" text.
pub fn parse(text: &str) -> Result<Parsed, String> {
    // cmd.exe quoting (`^"`, `^` line ends) reads as garbage under shell rules.
    if text.contains("^\"") || text.lines().any(|l| l.trim_end().ends_with('^')) {
        return Err(
            "this is the Windows (cmd) form of \"Copy as cURL\": use \"Copy as cURL (bash)\""
                .into(),
        );
    }
    let words = words(text)?;
    if words.first().map(String::as_str) != Some("curl") {
        return Err("the text does not start with `curl`".into());
    }
    let mut headers = BTreeMap::new();
    let mut cookies = None;
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        match w.as_str() {
            "-H" | "--header" => {
                let h = it.next().ok_or("-H without a header")?;
                let (name, value) = h
                    .split_once(':')
                    .ok_or_else(|| format!("a header without a colon: {:?}", truncate(h)))?;
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim().to_owned();
                if name.is_empty() {
                    // ":authority: ..." and friends: HTTP/2 pseudo-headers.
                    continue;
                }
                if name == "cookie" {
                    cookies = Some(value);
                } else if !DROPPED.contains(&name.as_str()) {
                    headers.insert(name, value);
                }
            }
            "-b" | "--cookie" => {
                cookies = Some(it.next().ok_or("-b without cookies")?.clone());
            }
            // Options with an argument that says nothing about the session.
            "-X" | "--request" | "--data" | "--data-raw" | "--data-binary" | "-d" | "-A"
            | "--user-agent" | "-e" | "--referer" => {
                let arg = it
                    .next()
                    .ok_or_else(|| format!("{w} without its argument"))?;
                if matches!(w.as_str(), "-A" | "--user-agent") {
                    headers.insert("user-agent".into(), arg.clone());
                }
            }
            _ => {}
        }
    }
    let cookies =
        cookies.ok_or("no cookie in the cURL text (copy a request made while logged in)")?;
    if cookies.trim().is_empty() {
        return Err("the cookie is empty".into());
    }
    Ok(Parsed { headers, cookies })
}

/// Names a bad header without echoing a possibly secret value in full.
fn truncate(s: &str) -> String {
    s.chars().take(24).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chrome_copy_as_curl_gives_headers_and_cookies() {
        let text = "curl 'https://www.binance.com/bapi/x' \\\n  -H 'accept: */*' \\\n  -H 'csrftoken: abc123' \\\n  -H ':authority: www.binance.com' \\\n  -H 'content-type: application/json' \\\n  -b 'p20t=web.1.xyz; lang=en' \\\n  --data-raw '{\"a\":1}'";
        let p = parse(text).unwrap();
        assert_eq!(p.cookies, "p20t=web.1.xyz; lang=en");
        assert_eq!(
            p.headers.get("csrftoken").map(String::as_str),
            Some("abc123")
        );
        assert!(!p.headers.contains_key("content-type"));
        assert!(!p.headers.keys().any(|k| k.starts_with(':') || k.is_empty()));
    }

    #[test]
    fn a_cookie_header_and_double_quotes_work_too() {
        let text = r#"curl "https://x" -H "Cookie: p20t=s; a=\"b\"" -H "clienttype: web""#;
        let p = parse(text).unwrap();
        assert_eq!(p.cookies, "p20t=s; a=\"b\"");
        assert_eq!(p.headers.get("clienttype").map(String::as_str), Some("web"));
    }

    #[test]
    fn bad_texts_are_clear_errors() {
        assert!(parse("wget x").unwrap_err().contains("curl"));
        assert!(parse("curl 'x").unwrap_err().contains("quote"));
        assert!(parse("curl x -H 'a: b'").unwrap_err().contains("cookie"));
        assert!(parse("curl x -H").is_err());
        let windows = "curl ^\"https://x^\" ^\n  -H ^\"csrftoken: abc^\" ^\n  -b ^\"p20t=s^\"";
        assert!(parse(windows).unwrap_err().contains("bash"));
    }
}
