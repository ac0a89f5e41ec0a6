//! Migrations run up, down and up again, and `src/store/schema.rs` matches the tables they make.

use alpha_oto::store::{self, Conn};
use diesel::RunQueryDsl;
use diesel::sql_types::{Integer, Text};

use crate::support::TestDb;

const SCHEMA_RS: &str = include_str!("../../src/store/schema.rs");

#[derive(Debug, Clone, PartialEq)]
struct Column {
    name: String,
    sql_type: String,
    nullable: bool,
}

/// Reads the `table!` blocks of schema.rs: table name to its columns in order.
fn declared_tables() -> Vec<(String, Vec<Column>)> {
    let mut tables = Vec::new();
    let mut current: Option<(String, Vec<Column>)> = None;
    for line in SCHEMA_RS.lines().map(str::trim) {
        if let Some((name, _)) = line.split_once(" (").filter(|_| line.ends_with(") {")) {
            current = Some((name.to_owned(), Vec::new()));
        } else if let Some((col, ty)) = line.strip_suffix(',').and_then(|l| l.split_once(" -> ")) {
            if let Some((_, cols)) = current.as_mut() {
                let (sql_type, nullable) = match ty
                    .strip_prefix("Nullable<")
                    .and_then(|t| t.strip_suffix('>'))
                {
                    Some(inner) => (inner.to_owned(), true),
                    None => (ty.to_owned(), false),
                };
                cols.push(Column {
                    name: col.to_owned(),
                    sql_type,
                    nullable,
                });
            }
        } else if line == "}"
            && let Some(t) = current.take()
        {
            tables.push(t);
        }
    }
    tables
}

#[derive(diesel::QueryableByName)]
struct DbColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    sql_type: String,
    #[diesel(sql_type = Integer)]
    nullable: i32,
}

/// The table's columns as the database has them, with types mapped to diesel's names.
fn actual_columns(conn: &mut Conn, table: &str) -> Vec<Column> {
    let rows: Vec<DbColumn> = match conn {
        Conn::Sqlite(c) => diesel::sql_query(format!(
            "SELECT name, upper(type) AS sql_type, CASE WHEN \"notnull\" = 1 OR (pk > 0 AND upper(type) = 'INTEGER') \
             THEN 0 ELSE 1 END AS nullable FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .load(&mut **c)
        .unwrap(),
        Conn::Pg(c) => diesel::sql_query(format!(
            "SELECT column_name::text AS name, data_type::text AS sql_type, \
             CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS nullable FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = '{table}' ORDER BY ordinal_position"
        ))
        .load(&mut **c)
        .unwrap(),
    };
    rows.into_iter()
        .map(|r| {
            let sql_type = match r.sql_type.as_str() {
                "BIGINT" | "bigint" => "BigInt",
                // SQLite's rowid alias must be declared INTEGER; it holds 64 bits.
                "INTEGER" if r.name == "id" => "BigInt",
                "INTEGER" | "integer" => "Integer",
                "TEXT" | "text" => "Text",
                "BOOLEAN" | "boolean" => "Bool",
                "BLOB" | "bytea" => "Binary",
                other => panic!(
                    "column {table}.{} has a type the schema does not use: {other}",
                    r.name
                ),
            };
            Column {
                name: r.name,
                sql_type: sql_type.to_owned(),
                nullable: r.nullable == 1,
            }
        })
        .collect()
}

fn table_names(conn: &mut Conn) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let rows: Vec<Name> = match conn {
        Conn::Sqlite(c) => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> '__diesel_schema_migrations' ORDER BY name",
        )
        .load(&mut **c)
        .unwrap(),
        Conn::Pg(c) => diesel::sql_query(
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name <> '__diesel_schema_migrations' ORDER BY table_name",
        )
        .load(&mut **c)
        .unwrap(),
    };
    rows.into_iter().map(|r| r.name).collect()
}

#[test]
fn schema_rs_matches_the_migrated_tables() {
    let db = TestDb::migrated();
    let mut conn = db.conn();
    let declared = declared_tables();
    assert_eq!(
        declared.len(),
        13,
        "schema.rs should declare the thirteen tables"
    );
    let mut declared_names: Vec<String> = declared.iter().map(|(n, _)| n.clone()).collect();
    declared_names.sort();
    assert_eq!(
        table_names(&mut conn),
        declared_names,
        "tables in the database vs schema.rs"
    );
    for (table, columns) in &declared {
        assert_eq!(
            &actual_columns(&mut conn, table),
            columns,
            "columns of {table}"
        );
    }
}

#[test]
fn migrations_go_up_down_and_up_again() {
    let db = TestDb::empty();
    let mut conn = db.conn();
    assert!(!store::migrate::pending(&mut conn).unwrap().is_empty());
    let applied = store::migrate::run_pending(&mut conn).unwrap();
    assert!(!applied.is_empty());
    assert!(store::migrate::pending(&mut conn).unwrap().is_empty());
    assert_eq!(table_names(&mut conn).len(), 13);

    let reverted = store::migrate::revert_all(&mut conn).unwrap();
    assert_eq!(reverted.len(), applied.len());
    assert!(
        table_names(&mut conn).is_empty(),
        "down.sql must drop every table"
    );

    let again = store::migrate::run_pending(&mut conn).unwrap();
    assert_eq!(again, applied);
    assert_eq!(table_names(&mut conn).len(), 13);
    // A second run applies nothing.
    assert!(store::migrate::run_pending(&mut conn).unwrap().is_empty());
}

#[test]
fn concurrent_migrations_apply_once() {
    let db = TestDb::empty();
    let results: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| db.store.blocking(store::migrate::run_pending).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut applied: Vec<String> = results.concat();
    applied.sort();
    let folders = std::fs::read_dir("migrations/sqlite").unwrap().count();
    let mut once = applied.clone();
    once.dedup();
    assert_eq!(
        (applied.len(), once.len()),
        (folders, folders),
        "each migration applied exactly once across the runners: {results:?}"
    );
}
