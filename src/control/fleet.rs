//! The command line's side of the fleet routes: the bodies of a bulk action and of settings
//! given as options, and the answers as text.

use serde_json::{Map, Value, json};

use super::{offset, s, setting};

/// Settings given on the command line (each optional: a change names only what changes).
#[derive(Debug, Default)]
pub struct SettingsGiven<'a> {
    pub token: Option<&'a str>,
    pub chain: Option<&'a str>,
    pub order_usdt: Option<&'a str>,
    pub target: Option<&'a str>,
    pub points: Option<u32>,
    pub buy_offset: Option<&'a str>,
    pub sell_offset: Option<&'a str>,
    /// KEY=VALUE pairs.
    pub set: &'a [String],
}

impl SettingsGiven<'_> {
    /// The settings as the API's JSON object.
    pub fn to_json(&self) -> Result<Map<String, Value>, String> {
        let mut m = Map::new();
        for pair in self.set {
            let (k, v) = setting(pair).map_err(|e| format!("--set {e}"))?;
            m.insert(k, v);
        }
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        put("token", self.token.map(|t| json!(t)));
        put("chain", self.chain.map(|c| json!(c)));
        put("order_usdt", self.order_usdt.map(|o| json!(o)));
        put("daily_target_usdt", self.target.map(|t| json!(t)));
        put("daily_target_points", self.points.map(|p| json!(p)));
        put("buy_offset", self.buy_offset.map(offset));
        put("sell_offset", self.sell_offset.map(offset));
        Ok(m)
    }
}

/// Which accounts a bulk action is for: names, the list's filters, or all.
#[derive(Debug, Default)]
pub struct Chosen<'a> {
    pub names: &'a [String],
    pub tag: Option<&'a str>,
    pub profile: Option<&'a str>,
    pub token: Option<&'a str>,
    pub state: Option<&'a str>,
    pub all: bool,
}

impl Chosen<'_> {
    /// Whether only one account is named and no filter given (the single-account route).
    pub fn one(&self) -> Option<&str> {
        match (self.names, self.filters().is_empty(), self.all) {
            ([one], true, false) => Some(one.as_str()),
            _ => None,
        }
    }

    fn filters(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for (k, v) in [
            ("tag", self.tag),
            ("profile", self.profile),
            ("token", self.token),
            ("state", self.state),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        m
    }

    /// `POST /api/v1/accounts/actions`'s body for `action`, with the action's own fields.
    pub fn body(&self, action: &str, extra: Map<String, Value>) -> Value {
        let mut m = extra;
        m.insert("action".into(), json!(action));
        let filters = self.filters();
        if self.all {
            m.insert("all".into(), json!(true));
        } else if !filters.is_empty() {
            m.insert("select".into(), Value::Object(filters));
        } else {
            m.insert("names".into(), json!(self.names));
        }
        Value::Object(m)
    }
}

/// The file's rows as the API's import takes them: JSON lines, each with its `line` in the
/// file. A `credentials` cell that is neither JSON nor a cURL text names a file, read here
/// (relative to the accounts file's folder): the daemon never reads the operator's files.
pub fn import_body(text: &str, dir: &std::path::Path) -> Result<String, String> {
    let rows = crate::accounts_file::parse(text).map_err(|e| e.to_string())?;
    let mut out = String::new();
    for mut row in rows {
        if let Some(Value::String(c)) = row.fields.get("credentials") {
            let t = c.trim_start();
            if !t.starts_with('{') && !t.starts_with("curl") {
                let path = dir.join(t.trim());
                let read = std::fs::read_to_string(&path).map_err(|e| {
                    format!(
                        "line {}: credentials: cannot read {}: {e}",
                        row.line,
                        path.display()
                    )
                })?;
                row.fields.insert("credentials".into(), Value::String(read));
            }
        }
        row.fields.insert("line".into(), json!(row.line));
        out.push_str(&Value::Object(row.fields).to_string());
        out.push('\n');
    }
    Ok(out)
}

/// An import's answer: the counts, then each bad row left out.
pub fn import_text(v: &Value) -> String {
    let mut out = format!(
        "imported {} row(s): {} created, {} updated, {} skipped\n",
        s(&v["rows"]),
        s(&v["created"]),
        s(&v["updated"]),
        s(&v["skipped"])
    );
    for r in v["problems"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  skipped line {} ({}): {}: {}\n",
            s(&r["line"]),
            s(&r["name"]),
            s(&r["field"]),
            s(&r["reason"])
        ));
    }
    out
}

/// A bulk action's answer: one line per account, then the totals.
pub fn bulk_text(v: &Value) -> String {
    let mut out = String::new();
    for a in v["accounts"].as_array().into_iter().flatten() {
        let line = match (a["result"].as_str(), a.get("kill"), a.get("ack")) {
            (Some("refused"), _, _) => format!("{}: refused: {}", s(&a["name"]), s(&a["reason"])),
            (_, Some(k), _) => super::kill_line(k),
            (_, _, Some(ack)) => super::ack_line(ack),
            _ => format!("{}: done", s(&a["name"])),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!(
        "{}: {} selected, {} done, {} refused\n",
        s(&v["action"]),
        s(&v["selected"]),
        s(&v["done"]),
        s(&v["refused"])
    ));
    out
}

/// Whether every kill in a bulk answer was verified with nothing left open.
pub fn bulk_kills_clean(v: &Value) -> bool {
    v["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("kill"))
        .all(|k| k["outcome"] == "verified" && k["open_left"] == 0)
}

/// Profiles as a table.
pub fn profiles_table(list: &Value) -> String {
    let mut out = format!(
        "{:<20} {:>8} {:>8} {:<8} {:>10} {:>12}\n",
        "name", "revision", "accounts", "token", "order", "target"
    );
    for p in list.as_array().into_iter().flatten() {
        let st = &p["settings"];
        let target = match st["daily_target_points"].as_u64() {
            Some(points) => format!("{points} pts"),
            None => s(&st["daily_target_usdt"]),
        };
        out.push_str(&format!(
            "{:<20} {:>8} {:>8} {:<8} {:>10} {:>12}\n",
            s(&p["name"]),
            s(&p["revision"]),
            s(&p["accounts"]),
            s(&st["token"]),
            s(&st["order_usdt"]),
            target
        ));
    }
    out
}

/// One profile: its name, revision and members, then its settings.
pub fn profile_text(p: &Value) -> String {
    let mut out = format!(
        "profile {} (revision {}, {} account(s))\n",
        s(&p["name"]),
        s(&p["revision"]),
        s(&p["accounts"])
    );
    if let Some(m) = p["settings"].as_object() {
        for (k, v) in m {
            out.push_str(&format!("  {k:<20} {}\n", s(v)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_names_one_account_or_filters_or_all() {
        let names = vec!["a1".to_owned()];
        let one = Chosen {
            names: &names,
            ..Chosen::default()
        };
        assert_eq!(one.one(), Some("a1"));
        let by_tag = Chosen {
            tag: Some("wave-2"),
            ..Chosen::default()
        };
        assert_eq!(by_tag.one(), None);
        assert_eq!(
            by_tag.body("pause", Map::new()),
            json!({"action": "pause", "select": {"tag": "wave-2"}})
        );
        let all = Chosen {
            all: true,
            ..Chosen::default()
        };
        assert_eq!(
            all.body("stop", Map::new()),
            json!({"action": "stop", "all": true})
        );
        let two = vec!["a".to_owned(), "b".to_owned()];
        let both = Chosen {
            names: &two,
            ..Chosen::default()
        };
        assert_eq!(
            both.body(
                "add_tags",
                json!({"tags": ["x"]}).as_object().cloned().unwrap()
            ),
            json!({"action": "add_tags", "names": ["a", "b"], "tags": ["x"]})
        );
    }
}
