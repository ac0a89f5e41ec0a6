//! `/openapi.json`: an OpenAPI 3.1 document built from the one route table (`super::ROUTES`)
//! and the error code table (`super::error::CODES`), with the request bodies' schemas.

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};

use super::auth::Authorized;
use super::error::CODES;
use crate::domain::session::SessionHealth;
use crate::domain::shown::{AccountState, Phase};

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
            "token": {"type": "string", "description": "short symbol, e.g. KOGE, or auto (the daemon chooses)"},
            "chain": {"type": ["string", "null"]},
            "order_usdt": decimal(),
            "daily_target_usdt": {"anyOf": [decimal(), {"type": "null"}], "description": "USDT of buys each UTC day; give this or daily_target_points"},
            "daily_target_points": {"type": ["integer", "null"], "minimum": 1, "maximum": 40, "description": "Alpha Points each UTC day (counted buy volume 2^P); give this or daily_target_usdt"},
            "buy_offset": offset,
            "sell_offset": offset,
            "order_timeout_s": {"type": "integer", "default": 300},
            "pending_timeout_s": {"type": "integer", "default": 120},
            "volatility_pct": decimal(),
            "cost_budget_bps": decimal(),
            "leftover_floor_pct": decimal(),
            "max_hold_loss_pct": decimal(),
            "min_mul_point": decimal(),
            "token_allow": {"type": "array", "items": {"type": "string"}},
            "token_switch_min_s": {"type": "integer", "default": 3600},
            "auto_resume": {"type": "boolean", "default": false},
            "webhook_url": {"type": ["string", "null"]}
        }
    })
}

/// The bulk actions (`super::bulk::BulkAction`).
const BULK_ACTIONS: &[&str] = &[
    "start",
    "pause",
    "resume",
    "stop",
    "kill",
    "set_profile",
    "set_tags",
    "add_tags",
    "remove_tags",
];

/// The list's filters (without paging), as a bulk request's `select` takes them.
fn filter_properties() -> Value {
    json!({
        "state": {"type": "string", "enum": texts(AccountState::ALL)},
        "pause_reason": {"type": "string"},
        "token": {"type": "string"},
        "profile": {"type": "string"},
        "tag": {"type": "string"},
        "needs_person": {"type": "boolean"},
        "q": {"type": "string"},
        "sort": {"enum": ["name", "state", "volume"]},
        "offset": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1, "maximum": super::listing::MAX_LIMIT}
    })
}

/// One bad row of an import.
fn row_problem() -> Value {
    json!({"type": "object", "required": ["line", "field", "reason"], "properties": {
        "line": {"type": "integer"}, "name": {"type": ["string", "null"]},
        "field": {"type": "string"}, "reason": {"type": "string"}
    }})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn nullable(ty: &str) -> Value {
    json!({"type": [ty, "null"]})
}

/// The bodies the handlers answer with, by name (`components.schemas`). Open to new fields
/// (a client ignores what it does not know); the fields listed are always there.
fn answer_schemas() -> Map<String, Value> {
    let decimal_or_null = json!({"anyOf": [decimal(), {"type": "null"}]});
    let rows = |what: &str| {
        json!({"type": "array", "description": what,
            "items": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}})
    };
    let mut settings = settings_schema(&["token", "order_usdt", "buy_offset", "sell_offset"]);
    if let Some(props) = settings["properties"].as_object_mut() {
        props.remove("name");
    }
    let profile_settings = settings.clone();
    let schemas = json!({
        "Account": {
            "type": "object",
            "required": ["name", "profile", "overrides", "tags", "session", "needs_person", "token", "state", "phase", "pauses", "progress", "points", "stream_up", "has_credentials", "settings"],
            "properties": {
                "name": {"type": "string"},
                "profile": nullable("string"),
                "overrides": {"type": "object", "description": "the settings the account sets itself over its profile's"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "token": {"type": "string"},
                "chain": nullable("string"),
                "state": {"type": "string", "enum": texts(AccountState::ALL)},
                "phase": {"type": "string", "enum": texts(Phase::ALL)},
                "pause_reason": nullable("string"),
                "pauses": {"type": "array", "items": {"type": "string"}},
                "progress": {"type": "object", "required": ["cycles_done"], "properties": {"cycles_done": {"type": "integer"}}},
                "points": {"type": "object", "required": ["today", "counted_volume", "real_volume"], "properties": {
                    "today": {"type": "integer", "description": "floor(log2(counted volume))"},
                    "target": {"type": ["integer", "null"]},
                    "counted_volume": decimal(),
                    "real_volume": decimal(),
                    "mul_point": decimal_or_null.clone(),
                    "cost_per_point_usdt": decimal_or_null.clone()
                }},
                "stream_up": {"type": "boolean"},
                "failure": nullable("string"),
                "current_pair": {"anyOf": [{"type": "null"}, {"type": "object",
                    "required": ["intent_id", "buy_price", "sell_price", "quantity", "bought", "sold", "since_ms"],
                    "properties": {
                        "intent_id": {"type": "string"},
                        "working_order_id": nullable("string"), "pending_order_id": nullable("string"),
                        "buy_price": decimal(), "sell_price": decimal(), "quantity": decimal(),
                        "bought": decimal(), "sold": decimal(), "since_ms": {"type": "integer"}
                    }}]},
                "has_credentials": {"type": "boolean"},
                "session": {"type": "string", "enum": texts(SessionHealth::ALL)},
                "session_expires_at_ms": nullable("integer"),
                "needs_person": {"type": "array", "items": {"type": "string"}, "description": "why a person is needed: session_expired, session_expiring, two_factor, face_check, ambiguous_order, failed"},
                "cost_bps": decimal_or_null,
                "exposure_usdt": decimal_or_null,
                "last_event_at_ms": nullable("integer"),
                "settings": settings
            }
        },
        "AccountList": {"type": "array", "items": schema_ref("Account")},
        "Profile": {
            "type": "object",
            "required": ["name", "settings", "revision", "accounts", "created_at_ms", "updated_at_ms"],
            "properties": {
                "name": {"type": "string"},
                "settings": profile_settings,
                "revision": {"type": "integer", "minimum": 1},
                "accounts": {"type": "integer", "minimum": 0, "description": "how many accounts are on it"},
                "created_at_ms": {"type": "integer"},
                "updated_at_ms": {"type": "integer"}
            }
        },
        "ProfileList": {"type": "array", "items": schema_ref("Profile")},
        "ImportReport": {
            "type": "object",
            "required": ["rows", "created", "updated", "skipped", "problems"],
            "properties": {
                "rows": {"type": "integer"}, "created": {"type": "integer"},
                "updated": {"type": "integer"}, "skipped": {"type": "integer"},
                "problems": {"type": "array", "items": row_problem()}
            }
        },
        "BulkReport": {
            "type": "object",
            "required": ["action", "selected", "done", "refused", "accounts"],
            "properties": {
                "action": {"enum": BULK_ACTIONS},
                "selected": {"type": "integer"}, "done": {"type": "integer"}, "refused": {"type": "integer"},
                "accounts": {"type": "array", "items": {"type": "object", "required": ["name", "result"], "properties": {
                    "name": {"type": "string"},
                    "result": {"enum": ["done", "refused"]},
                    "reason": {"type": "string"},
                    "ack": schema_ref("Ack"),
                    "kill": schema_ref("KillReport")
                }}}
            }
        },
        "Ack": {
            "type": "object",
            "required": ["account", "action", "outcome"],
            "properties": {
                "account": {"type": "string"},
                "action": {"enum": ["start", "pause", "resume", "stop", "kill"]},
                "outcome": {"enum": ["delivered", "pending"]},
                "owner": nullable("string")
            }
        },
        "KillReport": {
            "type": "object",
            "required": ["account", "outcome", "open_left", "open_orders"],
            "properties": {
                "account": {"type": "string"},
                "outcome": {"enum": ["verified", "unverified", "pending"]},
                "open_left": {"type": "integer", "minimum": 0},
                "open_orders": {"type": "array", "items": {"type": "string"}},
                "owner": nullable("string"),
                "error": nullable("string")
            }
        },
        "ActionAnswer": {"anyOf": [schema_ref("Ack"), schema_ref("KillReport")]},
        "Halt": {
            "type": "object",
            "required": ["accounts", "open_left", "verified", "unverified", "pending", "clean"],
            "properties": {
                "accounts": {"type": "array", "items": schema_ref("KillReport")},
                "open_left": {"type": "integer"}, "verified": {"type": "integer"},
                "unverified": {"type": "integer"}, "pending": {"type": "integer"},
                "clean": {"type": "boolean"}
            }
        },
        "Balances": {"type": "array", "items": {"type": "object", "required": ["asset", "free", "locked", "total"],
            "properties": {"asset": {"type": "string"}, "free": decimal(), "locked": decimal(), "total": decimal()}}},
        "Orders": rows("orders, newest first"),
        "Cycles": rows("OTO pairs, newest first"),
        "Fills": rows("fills, newest first"),
        "Events": rows("events, newest first"),
        "Health": {"type": "object"},
        "Tokens": {"type": "array", "items": {"type": "object",
            "required": ["symbol", "chain_id", "alpha_id", "mul_point", "cost_bps_per_counted"],
            "properties": {
                "symbol": {"type": "string"}, "chain_id": {"type": "string"}, "alpha_id": {"type": "string"},
                "mul_point": decimal(), "range_24h_bps": decimal_or_null.clone(),
                "volume_24h": decimal_or_null.clone(), "cost_bps_per_counted": decimal(),
                "ineligible": nullable("string")
            }}},
    });
    match schemas {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The schema of an operation's successful JSON answer, if it has one.
fn answer_of(method: &str, path: &str) -> Option<&'static str> {
    Some(match (method, path) {
        ("get", "/api/v1/accounts") => "AccountList",
        ("post", "/api/v1/accounts")
        | ("get", "/api/v1/accounts/{name}")
        | ("patch", "/api/v1/accounts/{name}/config") => "Account",
        ("post", "/api/v1/accounts/{name}/{action}") => "ActionAnswer",
        ("post", "/api/v1/halt") => "Halt",
        ("get", "/api/v1/accounts/{name}/balance") => "Balances",
        ("get", "/api/v1/accounts/{name}/orders") => "Orders",
        ("get", "/api/v1/accounts/{name}/cycles") => "Cycles",
        ("get", "/api/v1/accounts/{name}/fills") => "Fills",
        ("get", "/api/v1/accounts/{name}/events") => "Events",
        ("get", "/healthz" | "/readyz") => "Health",
        ("get", "/api/v1/tokens") => "Tokens",
        ("put", "/api/v1/accounts/{name}/tags") => "Account",
        ("get", "/api/v1/profiles") => "ProfileList",
        ("post", "/api/v1/profiles")
        | ("get", "/api/v1/profiles/{name}")
        | ("patch", "/api/v1/profiles/{name}") => "Profile",
        ("post", "/api/v1/accounts/actions") => "BulkReport",
        ("post", "/api/v1/accounts-file") => "ImportReport",
        _ => return None,
    })
}

/// The answers an operation gives: its success statuses as the handlers answer them, with
/// their bodies' schemas, and a problem for every error.
fn responses(method: &str, path: &str) -> Value {
    let ok: &[(&str, &str)] = match (method, path) {
        ("post", "/api/v1/accounts") => &[("201", "created: the account")],
        ("post", "/api/v1/profiles") => &[("201", "created: the profile")],
        ("delete", _) | ("put", "/api/v1/accounts/{name}/credentials") => &[("204", "done")],
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
        let mut answer = json!({"description": what});
        match (answer_of(method, path), path) {
            (Some(schema), _) => {
                answer["content"] = json!({"application/json": {"schema": schema_ref(schema)}});
            }
            (None, "/metrics") => {
                answer["content"] = json!({"text/plain": {"schema": {"type": "string"}}});
            }
            (None, "/openapi.json") => {
                answer["content"] = json!({"application/json": {"schema": {"type": "object"}}});
            }
            (None, "/api/v1/accounts-file") => {
                answer["content"] = json!({
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}}
                });
            }
            (None, "/" | "/assets/{file}") => {
                answer["content"] = json!({"text/html": {"schema": {"type": "string"}}});
            }
            _ => {}
        }
        out.insert((*code).to_owned(), answer);
    }
    out.insert(
        "default".into(),
        json!({"description": "an error", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
    );
    Value::Object(out)
}

/// The query parameters an operation reads.
fn query_parameters(method: &str, path: &str) -> Vec<Value> {
    let q = |name: &str, schema: Value, what: &str| json!({"name": name, "in": "query", "required": false, "schema": schema, "description": what});
    if path.ends_with("/events/stream") {
        vec![q(
            "status",
            json!({"type": "boolean", "default": false}),
            "add each account's live status once a second when it changed",
        )]
    } else if method == "get" && path == "/api/v1/accounts" {
        vec![
            q(
                "state",
                json!({"type": "string", "enum": texts(AccountState::ALL)}),
                "only accounts in this state",
            ),
            q(
                "pause_reason",
                json!({"type": "string"}),
                "only accounts paused for this reason (among others)",
            ),
            q(
                "token",
                json!({"type": "string"}),
                "only accounts trading this token (short symbol, any case)",
            ),
            q(
                "profile",
                json!({"type": "string"}),
                "only accounts on this profile",
            ),
            q(
                "tag",
                json!({"type": "string"}),
                "only accounts carrying this tag",
            ),
            q(
                "needs_person",
                json!({"type": "boolean"}),
                "true: only the accounts that need a person (expired or expiring session, 2FA, face check, ambiguous order, failed); false: only the others",
            ),
            q(
                "q",
                json!({"type": "string"}),
                "only accounts whose name holds this text (any case)",
            ),
            q(
                "sort",
                json!({"enum": ["name", "state", "volume"]}),
                "name: A to Z; state: by state, then name; volume: today's largest first. Without it, the order the accounts were made",
            ),
            q(
                "offset",
                json!({"type": "integer", "minimum": 0, "default": 0}),
                "accounts to skip (after the filters and the sort)",
            ),
            q(
                "limit",
                json!({"type": "integer", "minimum": 1, "maximum": super::listing::MAX_LIMIT}),
                "accounts in the page (all when absent); X-Total-Count says how many the filters select",
            ),
        ]
    } else if path == "/api/v1/accounts-file" && method == "get" {
        vec![q(
            "format",
            json!({"enum": ["csv", "jsonl"], "default": "csv"}),
            "CSV with a header row, or one JSON object per line",
        )]
    } else if path == "/api/v1/accounts-file" {
        vec![q(
            "skip_bad",
            json!({"type": "boolean", "default": false}),
            "import the good rows when some are bad (each bad one is still reported)",
        )]
    } else if method == "delete" {
        vec![q(
            "history",
            json!({"enum": ["keep", "purge"], "default": "keep"}),
            "keep: the account's cycles, orders, fills and events stay for the books (its credentials and name go); purge: everything goes",
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

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
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
        let query = query_parameters(method, path);
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
                let mut body = settings_schema(&["name"]);
                body["properties"]["profile"] = json!({"type": ["string", "null"], "description": "the profile whose settings the account trades; the other fields given are the account's own over them"});
                body["properties"]["tags"] = json!({"type": "array", "items": {"type": "string"}});
                body["description"] = json!(
                    "a whole settings object (token, order_usdt, buy_offset and sell_offset at least), or a profile and the fields the account sets itself"
                );
                op["requestBody"] = json_body(body);
            }
            ("post", "/api/v1/profiles") => {
                op["requestBody"] = json_body(settings_schema(&[
                    "name",
                    "token",
                    "order_usdt",
                    "buy_offset",
                    "sell_offset",
                ]));
            }
            ("patch", "/api/v1/profiles/{name}") => {
                let mut body = settings_schema(&[]);
                body["properties"]["revision"] = json!({"type": "integer", "description": "the revision the change was made from: refused with conflict when the profile changed since"});
                op["requestBody"] = json_body(body);
            }
            ("patch", _) => {
                op["requestBody"] = json_body(settings_schema(&[]));
            }
            ("post", "/api/v1/accounts-file") => {
                op["requestBody"] = json!({"required": true, "content": {
                    "text/csv": {"schema": {"type": "string", "description": "a header row (name, profile, tags, credentials, settings by name), then one account per row"}},
                    "application/x-ndjson": {"schema": {"type": "string", "description": "one JSON object per line, with the same fields"}}
                }});
            }
            ("put", "/api/v1/accounts/{name}/tags") => {
                op["requestBody"] = json_body(
                    json!({"type": "object", "required": ["tags"], "additionalProperties": false,
                    "properties": {"tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64}, "maxItems": 32}}}),
                );
            }
            ("post", "/api/v1/accounts/actions") => {
                op["requestBody"] = json_body(
                    json!({"type": "object", "required": ["action"], "additionalProperties": false,
                    "description": "exactly one of names, select and all",
                    "properties": {
                        "action": {"enum": BULK_ACTIONS},
                        "names": {"type": "array", "items": {"type": "string"}},
                        "select": {"type": "object", "additionalProperties": false, "properties": filter_properties(), "minProperties": 1},
                        "all": {"type": "boolean"},
                        "profile": {"type": ["string", "null"], "description": "set_profile: the profile, or null to take the accounts off theirs"},
                        "keep_overrides": {"type": "boolean", "default": false},
                        "tags": {"type": "array", "items": {"type": "string"}}
                    }}),
                );
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
            "schemas": all_schemas()
        },
        "x-error-codes": codes
    })
}

/// `components.schemas`: the answers' and the problem's.
fn all_schemas() -> Value {
    let mut m = answer_schemas();
    m.insert("Problem".into(), problem_schema());
    Value::Object(m)
}

fn problem_schema() -> Value {
    json!({
                    "type": "object",
                    "required": ["type", "title", "status", "detail", "code"],
                    "properties": {
                        "type": {"type": "string"}, "title": {"type": "string"},
                        "status": {"type": "integer"}, "detail": {"type": "string"},
                        "code": {"enum": CODES.iter().map(|c| c.0).collect::<Vec<_>>()},
                        "field": {"type": "string"},
                        "rows": {"type": "array", "items": row_problem()}
                    }
    })
}

pub async fn document(_: Authorized) -> HttpResponse {
    HttpResponse::Ok().json(build())
}

/// The texts of a closed set, for a schema's `enum`.
fn texts<T: std::fmt::Display>(all: &[T]) -> Vec<String> {
    all.iter().map(ToString::to_string).collect()
}
