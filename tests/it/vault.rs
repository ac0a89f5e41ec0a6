//! The credential vault: round trips, wrong keys, moved ciphertexts, rotation, and a canary
//! that must never show up in the database or the logs.

use std::collections::BTreeMap;

use alpha_oto::exchange::session::Session;
use alpha_oto::store::{self, Conn};
use alpha_oto::telemetry::{self, LogFormat, LogSettings, Overflow};
use alpha_oto::vault::{KeyRing, Vault, VaultError, generate_key_line};
use diesel::RunQueryDsl;
use secrecy::{ExposeSecret, SecretString};

use crate::support::{TestDb, unique};

fn key_line(id: &str) -> String {
    let line = generate_key_line(chrono::Utc::now());
    format!("{id}:{}", line.split_once(':').unwrap().1)
}

fn vault(lines: &[&str]) -> Vault {
    Vault::new(KeyRing::parse(&lines.join("\n"), "test").unwrap())
}

fn creds(cookie: &str) -> Session {
    let mut headers = BTreeMap::new();
    headers.insert(
        "csrftoken".to_owned(),
        SecretString::from("d41d8cd98f00b204e9800998ecf8427e"),
    );
    headers.insert(
        "bnc-uuid".to_owned(),
        SecretString::from("0b8f2a9e-0000-4000-8000-1234567890ab"),
    );
    Session::new(headers, SecretString::from(cookie.to_owned())).unwrap()
}

fn assert_same(a: &Session, b: &Session) {
    assert_eq!(a.cookies.expose_secret(), b.cookies.expose_secret());
    let flat = |c: &Session| {
        c.headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(flat(a), flat(b));
}

fn accounts(conn: &mut Conn, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            store::accounts::create(conn, &format!("acc{i}"), 1)
                .unwrap()
                .id
        })
        .collect()
}

#[test]
fn credentials_round_trip_through_the_store() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let ids = accounts(&mut c, 1);
    let k1 = key_line("k1");
    let v = vault(&[&k1]);
    let original = creds("p20t=web.1234; lang=en");
    v.put(&mut c, ids[0], &original, 5).unwrap();
    assert_same(&v.get(&mut c, ids[0]).unwrap().unwrap(), &original);
    let row = store::credentials::get(&mut c, ids[0]).unwrap().unwrap();
    assert_eq!(row.key_id, "k1");
    // Two seals of the same plaintext differ (fresh nonces).
    assert_ne!(
        v.seal(ids[0], &original, 5).unwrap().cookies_ct,
        row.cookies_ct
    );
    // Empty cookies are allowed and survive too.
    v.put(&mut c, ids[0], &creds(""), 6).unwrap();
    assert_eq!(
        v.get(&mut c, ids[0])
            .unwrap()
            .unwrap()
            .cookies
            .expose_secret(),
        ""
    );
    assert!(v.get(&mut c, ids[0] + 1).unwrap().is_none());
}

#[test]
fn a_wrong_key_does_not_open() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let ids = accounts(&mut c, 1);
    vault(&[&key_line("k1")])
        .put(&mut c, ids[0], &creds("secret"), 1)
        .unwrap();
    // Same id, other key material: authentication fails.
    let err = vault(&[&key_line("k1")]).get(&mut c, ids[0]).unwrap_err();
    assert!(matches!(err, VaultError::Open { .. }), "{err}");
    // A ring without the key id says which key is missing.
    let err = vault(&[&key_line("k2")]).get(&mut c, ids[0]).unwrap_err();
    assert!(
        matches!(&err, VaultError::UnknownKey { key_id, .. } if key_id == "k1"),
        "{err}"
    );
}

#[test]
fn a_ciphertext_moved_to_another_row_or_field_does_not_open() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let ids = accounts(&mut c, 2);
    let v = vault(&[&key_line("k1")]);
    v.put(&mut c, ids[0], &creds("alice-session"), 1).unwrap();
    v.put(&mut c, ids[1], &creds("bob-session"), 1).unwrap();

    let mut alice = store::credentials::get(&mut c, ids[0]).unwrap().unwrap();
    alice.account_id = ids[1];
    store::credentials::put(&mut c, &alice).unwrap();
    let err = v.get(&mut c, ids[1]).unwrap_err();
    assert!(
        matches!(err, VaultError::Open { account_id, .. } if account_id == ids[1]),
        "{err}"
    );

    let mut swapped = store::credentials::get(&mut c, ids[0]).unwrap().unwrap();
    std::mem::swap(&mut swapped.headers_ct, &mut swapped.cookies_ct);
    assert!(matches!(v.open(&swapped), Err(VaultError::Open { .. })));

    let mut flipped = store::credentials::get(&mut c, ids[0]).unwrap().unwrap();
    let last = flipped.cookies_ct.len() - 1;
    flipped.cookies_ct[last] ^= 1;
    assert!(matches!(
        v.open(&flipped),
        Err(VaultError::Open {
            field: "cookies",
            ..
        })
    ));
    flipped.cookies_ct.truncate(5);
    assert!(
        matches!(v.open(&flipped), Err(VaultError::Open { .. })),
        "short input is an error, not a panic"
    );
}

#[test]
fn rotation_reseals_under_the_new_primary_and_old_rows_open_before_it() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let ids = accounts(&mut c, 3);
    let (k1, k2) = (key_line("k1"), key_line("k2"));
    let old = vault(&[&k1]);
    for (i, id) in ids.iter().enumerate() {
        old.put(&mut c, *id, &creds(&format!("session-{i}")), 1)
            .unwrap();
    }
    let ring = vault(&[&k2, &k1]);
    // Before rotation, the new ring still opens rows sealed under the old key.
    assert_eq!(
        ring.get(&mut c, ids[1])
            .unwrap()
            .unwrap()
            .cookies
            .expose_secret(),
        "session-1"
    );
    // New writes use the new primary.
    ring.put(&mut c, ids[2], &creds("session-2b"), 2).unwrap();

    let report = ring.rotate(&mut c, 3).unwrap();
    assert_eq!(report.rotated, [ids[0], ids[1]]);
    assert!(report.skipped.is_empty() && report.failed.is_empty());
    assert!(
        store::credentials::ids_not_under_key(&mut c, "k2")
            .unwrap()
            .is_empty()
    );

    // With k1 retired, every row still opens; a ring of k1 alone opens none.
    let retired = vault(&[&k2]);
    for (id, want) in ids.iter().zip(["session-0", "session-1", "session-2b"]) {
        assert_eq!(
            retired
                .get(&mut c, *id)
                .unwrap()
                .unwrap()
                .cookies
                .expose_secret(),
            want
        );
    }
    assert!(matches!(
        old.get(&mut c, ids[0]),
        Err(VaultError::UnknownKey { .. })
    ));
    assert_eq!(
        ring.rotate(&mut c, 4).unwrap().rotated.len(),
        0,
        "a second rotation has nothing to do"
    );
}

#[test]
fn rotation_reports_rows_it_cannot_open_and_leaves_them_alone() {
    let db = TestDb::migrated();
    let mut c = db.conn();
    let ids = accounts(&mut c, 2);
    vault(&[&key_line("lost")])
        .put(&mut c, ids[0], &creds("a"), 1)
        .unwrap();
    let (k1, k2) = (key_line("k1"), key_line("k2"));
    vault(&[&k1]).put(&mut c, ids[1], &creds("b"), 1).unwrap();
    let before = store::credentials::get(&mut c, ids[0]).unwrap().unwrap();
    let report = vault(&[&k2, &k1]).rotate(&mut c, 2).unwrap();
    assert_eq!(report.rotated, [ids[1]]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, ids[0]);
    assert_eq!(
        store::credentials::get(&mut c, ids[0]).unwrap().unwrap(),
        before
    );
}

#[test]
fn key_ring_text_errors_name_the_line_and_never_the_key() {
    let k = key_line("good");
    let hex = k.split_once(':').unwrap().1.to_owned();
    for (text, want) in [
        ("", "no key"),
        ("nocolon", "line 1"),
        (&format!("bad id:{hex}") as &str, "key id"),
        ("k1:zz", "not hexadecimal"),
        ("k1:abcd", "32 bytes"),
        (&format!("{k}\n{k}"), "appears twice"),
    ] {
        let err = KeyRing::parse(text, "ring.txt").unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(err.contains("ring.txt"), "{err}");
        assert!(
            !err.contains(&hex),
            "an error must not repeat key material: {err}"
        );
    }
    let ring = KeyRing::parse(&format!("# comment\n\n{k}\n{}", key_line("older")), "ring").unwrap();
    assert_eq!(ring.primary_id(), "good");
    assert_eq!(ring.key_ids(), ["good", "older"]);
    assert!(!format!("{ring:?}").contains(&hex));
}

/// Every byte the database holds for this test, as text.
fn database_dump(db: &TestDb) -> Vec<u8> {
    if let Some(path) = &db.sqlite_path {
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(bytes) = std::fs::read(format!("{}{suffix}", path.display())) {
                all.extend(bytes);
            }
        }
        return all;
    }
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    let mut c = db.conn();
    let mut out = String::new();
    for table in [
        "accounts",
        "credentials",
        "trading_configs",
        "token_mappings",
        "token_precisions",
        "cycles",
        "orders",
        "fills",
        "events",
        "leases",
    ] {
        let Conn::Pg(pg) = &mut c else { unreachable!() };
        let rows: Vec<Row> =
            diesel::sql_query(format!("SELECT row_to_json(x)::text AS t FROM {table} x"))
                .load(&mut **pg)
                .unwrap();
        out.extend(rows.into_iter().map(|r| r.t));
    }
    out.into_bytes()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_canary_cookie_never_reaches_the_database_or_the_logs() {
    let db = TestDb::migrated();
    let canary = unique("CANARY");
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("alpha-oto.log");
    let tel = telemetry::init(&LogSettings {
        file: Some(log_path.clone()),
        format: LogFormat::Json,
        overflow: Overflow::Block,
        level: telemetry::LogLevel::Trace,
        channel_size: 1024,
    })
    .unwrap();
    let log = tel.logger.clone();

    let mut c = db.conn();
    let ids = accounts(&mut c, 2);
    let v = vault(&[&key_line("k1")]);
    let secret = creds(&format!("p20t={canary}; theme=dark"));
    v.put(&mut c, ids[0], &secret, 1).unwrap();
    v.put(&mut c, ids[1], &secret, 1).unwrap();
    let opened = v.get(&mut c, ids[0]).unwrap().unwrap();
    let moved = store::credentials::get(&mut c, ids[0]).unwrap().unwrap();
    let err = v
        .open(&alpha_oto::store::models::CredentialRow {
            account_id: ids[1],
            ..moved.clone()
        })
        .unwrap_err();
    // What a careless caller might log: the credentials, the row and the error.
    slog::info!(log, "credentials stored"; "creds" => format!("{opened:?}"), "row" => format!("{moved:?}"));
    slog::warn!(log, "credentials failed"; "error.message" => err.to_string());
    drop(log);
    tel.shutdown();
    drop(c);

    let logs = std::fs::read(&log_path).unwrap();
    assert!(
        contains(&logs, b"credentials stored"),
        "the log was written"
    );
    assert!(
        !contains(&logs, canary.as_bytes()),
        "the canary reached the log"
    );
    let dump = database_dump(&db);
    assert!(!dump.is_empty());
    assert!(
        !contains(&dump, canary.as_bytes()),
        "the canary reached the database"
    );
    assert!(
        !contains(&dump, hex::encode(&canary).as_bytes()),
        "the canary reached the database as hex"
    );
}

#[test]
fn a_key_file_other_users_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master-key");
    std::fs::write(&path, key_line("k1")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = KeyRing::load(Some(&path)).unwrap_err().to_string();
    assert!(err.contains("chmod 600") && err.contains("644"), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (ring, _) = KeyRing::load(Some(&path)).unwrap().unwrap();
    assert_eq!(ring.primary_id(), "k1");
}

#[test]
fn credentials_with_control_characters_are_refused() {
    let header = |v: &str| {
        let mut h = BTreeMap::new();
        h.insert("csrftoken".to_owned(), SecretString::from(v.to_owned()));
        Session::new(h, SecretString::from("p20t=s".to_owned()))
    };
    for bad in ["abc\r\nX-Injected: 1", "abc\n", "a\0b", "a\u{7f}"] {
        let err = header(bad).unwrap_err().to_string();
        assert!(
            err.contains("csrftoken") && err.contains("control character"),
            "{bad:?}: {err}"
        );
        assert!(!err.contains("abc"), "the value is not echoed: {err}");
    }
    let err = Session::new(
        BTreeMap::new(),
        SecretString::from("p20t=s\r\nx".to_owned()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cookie") && err.contains("character 7"),
        "{err}"
    );
    assert!(header("d41d8cd98f00b204 e9800998").is_ok());
}
