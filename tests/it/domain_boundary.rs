//! The domain's boundary, held by a test from outside it: no file under `src/domain/` names the
//! runtime, the database, the network, the exchange client or the actors, nor reads a clock or
//! a file.

/// Paths a pure decision may not reach, with why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("actix", "the actor runtime"),
    ("tokio", "the async runtime"),
    ("diesel", "the database"),
    ("redis", "the cache"),
    ("awc", "the HTTP client"),
    ("tungstenite", "the WebSocket client"),
    ("crate::exchange::rest", "the exchange's REST client"),
    ("crate::exchange::stream", "the exchange's streams"),
    ("crate::actors", "the actors"),
    ("crate::store", "the store"),
    ("crate::api", "the control API"),
    ("Instant::now", "a clock (time is passed in)"),
    ("SystemTime", "a clock (time is passed in)"),
    ("Utc::now", "a clock (time is passed in)"),
    ("std::fs", "files"),
    ("std::net", "the network"),
];

/// The `FORBIDDEN` names a source text uses outside comments, as whole path segments.
fn offences(text: &str) -> Vec<&'static str> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    FORBIDDEN
        .iter()
        .filter(|(name, _)| {
            code.match_indices(name).any(|(at, _)| {
                let before = code[..at].chars().next_back();
                let after = code[at + name.len()..].chars().next();
                let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !ident(before) && !ident(after)
            })
        })
        .map(|(name, _)| *name)
        .collect()
}

#[test]
fn no_domain_file_reaches_io_the_runtime_or_a_clock() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut found = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for name in offences(&text) {
            found.push(format!("{}: {name}", path.display()));
        }
    }
    assert!(files >= 10, "only {files} files read in {}", dir.display());
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn the_check_sees_a_forbidden_path_and_not_a_comment_or_a_longer_name() {
    assert_eq!(offences("use tokio::sync::mpsc;"), vec!["tokio"]);
    assert_eq!(
        offences("let t = std::time::Instant::now();"),
        vec!["Instant::now"]
    );
    assert_eq!(
        offences("use crate::store::models::Account;"),
        vec!["crate::store"]
    );
    assert!(offences("// tokio is not used here").is_empty());
    assert!(offences("let tokio_like = 1; let my_awc2 = 2;").is_empty());
}
