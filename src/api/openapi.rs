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

/// The document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for (method, path, auth, summary) in super::ROUTES {
        let mut op = json!({
            "summary": summary,
            "operationId": format!("{method}_{}", path.trim_start_matches('/').replace(['/', '{', '}', '.'], "_")),
            "responses": {
                "200": {"description": "OK"},
                "default": {"description": "an error", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            }
        });
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
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
