//! `/openapi.json`: an OpenAPI 3.1 document built from the one route table (`super::ROUTES`)
//! and the error code table (`super::error::CODES`), with the request bodies' schemas.

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};

use super::auth::Authorized;
use super::error::CODES;

fn decimal() -> Value {
    json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "an exact decimal"})
}

fn settings_schema(required: &[&str]) -> Value {
    let offset = json!({
        "type": "object",
        "required": ["mode", "value"],
        "additionalProperties": false,
        "properties": {"mode": {"enum": ["percent", "amount"]}, "value": decimal()}
    });
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
            "token": {"type": "string", "description": "short symbol, e.g. KOGE"},
            "chain": {"type": ["string", "null"]},
            "order_usdt": decimal(),
            "daily_target_usdt": decimal(),
            "buy_offset": offset,
            "sell_offset": offset,
            "order_timeout_s": {"type": "integer", "default": 300},
            "pending_timeout_s": {"type": "integer", "default": 120},
            "volatility_pct": decimal(),
            "cost_budget_bps": decimal(),
            "leftover_floor_pct": decimal(),
            "auto_resume": {"type": "boolean", "default": false},
            "webhook_url": {"type": ["string", "null"]}
        }
    })
}

/// The answers an operation gives: its success statuses as the handlers answer them, and a
/// problem for every error.
fn responses(method: &str, path: &str) -> Value {
    let ok: &[(&str, &str)] = match (method, path) {
        ("post", "/api/v1/accounts") => &[("201", "created: the account")],
        ("delete", _) | ("put", _) => &[("204", "done")],
        ("post", "/api/v1/accounts/{name}/{action}") => &[
            (
                "200",
                "a kill verified on the exchange with nothing left open",
            ),
            (
                "202",
                "recorded: delivered to this instance or pending on its holder (a kill's report when not verified clean)",
            ),
        ],
        ("post", "/api/v1/halt") => &[
            ("200", "every account verified with nothing left open"),
            ("202", "some account not verified clean: see each report"),
        ],
        _ => &[("200", "OK")],
    };
    let mut out = Map::new();
    for (code, what) in ok {
        out.insert((*code).to_owned(), json!({"description": what}));
    }
    out.insert(
        "default".into(),
        json!({"description": "an error", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
    );
    Value::Object(out)
}

/// The query parameters an operation reads.
fn query_parameters(path: &str) -> Vec<Value> {
    let q = |name: &str, schema: Value, what: &str| json!({"name": name, "in": "query", "required": false, "schema": schema, "description": what});
    if path.ends_with("/events/stream") {
        vec![q(
            "status",
            json!({"type": "boolean", "default": false}),
            "add each account's live status once a second when it changed",
        )]
    } else if ["/orders", "/cycles", "/fills", "/events"]
        .iter()
        .any(|l| path.starts_with("/api/v1/accounts/") && path.ends_with(l))
    {
        vec![
            q(
                "before",
                json!({"type": "integer"}),
                "rows with an id below this one (the next page)",
            ),
            q(
                "limit",
                json!({"type": "integer", "default": 100}),
                "rows per page",
            ),
        ]
    } else {
        Vec::new()
    }
}

/// The document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for (method, path, auth, summary) in super::ROUTES {
        let mut op = json!({
            "summary": summary,
            "operationId": format!("{method}_{}", path.trim_start_matches('/').replace(['/', '{', '}', '.'], "_")),
            "responses": responses(method, path),
        });
        let query = query_parameters(path);
        if !query.is_empty() {
            op["parameters"] = Value::Array(query);
        }
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            let mut all = params;
            if let Some(Value::Array(q)) = op.get("parameters") {
                all.extend(q.iter().cloned());
            }
            op["parameters"] = Value::Array(all);
        }
        if *auth {
            op["security"] = json!([{"bearer": []}]);
        }
        match (*method, *path) {
            ("post", "/api/v1/accounts") => {
                op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": settings_schema(&["name", "token", "order_usdt", "daily_target_usdt", "buy_offset", "sell_offset"])}}});
            }
            ("patch", _) => {
                op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": settings_schema(&[])}}});
            }
            ("put", _) => {
                op["requestBody"] = json!({"required": true, "content": {
                    "application/json": {"schema": {"type": "object", "required": ["headers", "cookies"], "additionalProperties": false,
                        "properties": {"headers": {"type": "object", "additionalProperties": {"type": "string"}}, "cookies": {"type": "string"}}}},
                    "text/plain": {"schema": {"type": "string", "description": "a browser's Copy as cURL"}}
                }});
            }
            _ => {}
        }
        let entry = paths
            .entry(path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[*method] = op;
    }
    let codes: Vec<Value> = CODES
        .iter()
        .map(|(code, status, title)| json!({"code": code, "status": status, "title": title}))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {"title": "alpha-oto control API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail", "code"],
                    "properties": {
                        "type": {"type": "string"}, "title": {"type": "string"},
                        "status": {"type": "integer"}, "detail": {"type": "string"},
                        "code": {"enum": CODES.iter().map(|c| c.0).collect::<Vec<_>>()},
                        "field": {"type": "string"}
                    }
                }
            }
        },
        "x-error-codes": codes
    })
}

pub async fn document(_: Authorized) -> HttpResponse {
    HttpResponse::Ok().json(build())
}
