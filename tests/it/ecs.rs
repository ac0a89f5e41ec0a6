//! Log lines held against the Elastic Common Schema's own field definitions: the `@elastic/ecs`
//! package (`ALPHA_OTO_TEST_ECS`, default `target/ecs/package`; the test command installs it
//! with npm), read through Node.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// ECS's fields and their types, by flat name.
pub fn definitions() -> &'static BTreeMap<String, String> {
    static DEFS: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let dir = std::env::var("ALPHA_OTO_TEST_ECS")
            .unwrap_or_else(|_| format!("{}/target/ecs/package", env!("CARGO_MANIFEST_DIR")));
        let script = format!(
            "const f = require({:?}).EcsFlat; \
             process.stdout.write(JSON.stringify(Object.fromEntries(\
             Object.entries(f).map(([k, v]) => [k, v.type]))))",
            format!("{dir}/build/commonjs/ecs_flat.js")
        );
        let out = std::process::Command::new("node")
            .args(["-e", &script])
            .output()
            .unwrap_or_else(|e| panic!("node cannot be started ({e}): install Node.js"));
        assert!(
            out.status.success(),
            "the ECS definitions at {dir} cannot be read (scripts/test.sh installs them with \
             npm; or set ALPHA_OTO_TEST_ECS): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let defs: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
        assert!(defs.len() > 1000, "too few ECS fields: {}", defs.len());
        defs
    })
}

/// What is wrong with one log line under ECS: a field ECS defines with a value of another
/// type, or a field outside ECS that is not under the service's namespace `trading.`.
pub fn problems(line: &Value) -> Vec<String> {
    let defs = definitions();
    let Some(fields) = line.as_object() else {
        return vec![format!("not an object: {line}")];
    };
    let mut out = Vec::new();
    for (key, value) in fields {
        if let Some(rest) = key.strip_prefix("trading.") {
            if rest.is_empty() {
                out.push(format!("{key}: an empty name"));
            }
            continue;
        }
        let Some(ty) = defs.get(key) else {
            out.push(format!("{key}: not an ECS field and not under trading."));
            continue;
        };
        let fits = match ty.as_str() {
            "keyword" | "constant_keyword" | "wildcard" | "text" | "match_only_text" | "ip"
            | "date" | "version" => value.is_string(),
            "long" | "integer" | "short" | "byte" | "unsigned_long" => {
                value.is_i64() || value.is_u64()
            }
            "float" | "double" | "scaled_float" | "half_float" => value.is_number(),
            "boolean" => value.is_boolean(),
            "object" | "flattened" | "nested" => value.is_object(),
            _ => true,
        };
        if !fits {
            out.push(format!("{key}: ECS type {ty}, value {value}"));
        }
    }
    out
}

#[test]
fn the_check_knows_ecs_and_finds_what_breaks_it() {
    assert_eq!(definitions()["log.origin.file.line"], "long");
    assert_eq!(definitions()["event.action"], "keyword");
    let good = serde_json::json!({"@timestamp": "2026-12-04T00:00:00Z", "log.level": "info",
        "message": "m", "log.origin.file.line": 3, "trading.order.id": "1"});
    assert_eq!(problems(&good), Vec::<String>::new());
    let bad = serde_json::json!({"log.origin": "some_crate", "order.id": "1",
        "log.origin.file.line": "3"});
    assert_eq!(problems(&bad).len(), 3, "{:?}", problems(&bad));
}
