//! Profiles and tags. A profile is a whole set of settings under a name; an account on a
//! profile trades it with its own overrides (single fields) laid over it, so a change to the
//! profile reaches every account on it while what one account set for itself stays. Every
//! settings object, a profile's, an account's or a change, is read and checked here, so the
//! API, the import and the profile change name a bad field the same way.

use serde_json::{Map, Value};

use super::settings::{AccountSettings, SettingsError};

/// A JSON object of settings fields: overrides, or the keys of a change.
pub type Fields = Map<String, Value>;

/// Most tags one account carries, and the longest tag.
pub const MAX_TAGS: usize = 32;
pub const MAX_TAG_LEN: usize = 64;

fn fault(field: impl Into<String>, reason: impl Into<String>) -> SettingsError {
    SettingsError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Settings from a JSON object, checked whole; a fault names its field as the API spells it.
pub fn parse(value: Value) -> Result<AccountSettings, SettingsError> {
    let s: AccountSettings = serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        // serde names the field in its message ("unknown field `x`", "missing field `y`").
        let field = msg.split('`').nth(1).unwrap_or("body").to_owned();
        fault(field, msg)
    })?;
    s.validate()?;
    Ok(s)
}

/// The settings as a JSON object (what a change is laid over).
pub fn fields_of(s: &AccountSettings) -> Fields {
    match serde_json::to_value(s) {
        Ok(Value::Object(m)) => m,
        // A struct of named fields always serialises to an object.
        _ => Fields::new(),
    }
}

/// `changes` laid over `base`, checked whole. A change that names one kind of daily target
/// drops the other kind, so `{"daily_target_points": 12}` moves a USDT target to points.
pub fn lay_over(
    base: &AccountSettings,
    changes: &Fields,
) -> Result<AccountSettings, SettingsError> {
    let mut merged = fields_of(base);
    for (given, other) in [
        ("daily_target_points", "daily_target_usdt"),
        ("daily_target_usdt", "daily_target_points"),
    ] {
        if changes.get(given).is_some_and(|v| !v.is_null()) && !changes.contains_key(other) {
            merged.insert(other.into(), Value::Null);
        }
    }
    for (k, v) in changes {
        merged.insert(k.clone(), v.clone());
    }
    parse(Value::Object(merged))
}

/// An account's overrides after a change: the changed keys join (or replace) the ones it had;
/// a change to one kind of target drops an override of the other kind.
pub fn overrides_after(current: &Fields, changes: &Fields) -> Fields {
    let mut out = current.clone();
    for (given, other) in [
        ("daily_target_points", "daily_target_usdt"),
        ("daily_target_usdt", "daily_target_points"),
    ] {
        if changes.get(given).is_some_and(|v| !v.is_null()) && !changes.contains_key(other) {
            out.remove(other);
        }
    }
    for (k, v) in changes {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// A stored or given JSON object of fields (the overrides column, a request's `overrides`).
pub fn fields_from_text(text: &str) -> Result<Fields, SettingsError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(fault(
            "overrides",
            "must be a JSON object of settings fields",
        )),
    }
}

/// Tags as given, made canonical: trimmed, without repeats, sorted. A tag is 1 to 64
/// characters of text without control characters or commas (a comma separates tags on the
/// command line and in CSV files).
pub fn tags(given: &[String]) -> Result<Vec<String>, SettingsError> {
    let mut out: Vec<String> = Vec::with_capacity(given.len());
    for t in given {
        let t = t.trim();
        if t.is_empty() || t.chars().count() > MAX_TAG_LEN {
            return Err(fault(
                "tags",
                format!("a tag is 1 to {MAX_TAG_LEN} characters"),
            ));
        }
        if t.chars().any(|c| c.is_control() || c == ',') {
            return Err(fault(
                "tags",
                format!("{t:?}: a tag holds no control characters or commas"),
            ));
        }
        out.push(t.to_owned());
    }
    out.sort();
    out.dedup();
    if out.len() > MAX_TAGS {
        return Err(fault(
            "tags",
            format!("at most {MAX_TAGS} tags per account"),
        ));
    }
    Ok(out)
}

/// Stored tags back as a list (a stored value that is not a list of strings reads as none,
/// and the next write of the account's tags replaces it).
pub fn tags_from_text(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> AccountSettings {
        parse(json!({
            "token": "KOGE", "order_usdt": "10", "daily_target_usdt": "1000",
            "buy_offset": {"mode": "percent", "value": "0.1"},
            "sell_offset": {"mode": "percent", "value": "0.1"}
        }))
        .unwrap()
    }

    fn obj(v: Value) -> Fields {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn overrides_win_over_the_profile_and_the_rest_is_the_profiles() {
        let s = lay_over(
            &base(),
            &obj(json!({"order_usdt": "25", "order_timeout_s": 60})),
        )
        .unwrap();
        assert_eq!(s.order_usdt.to_string(), "25");
        assert_eq!(s.order_timeout_s, 60);
        assert_eq!(s.token, "KOGE");
        assert_eq!(
            s.daily_target_usdt.map(|d| d.to_string()),
            Some("1000".into())
        );
    }

    #[test]
    fn a_points_override_replaces_the_profiles_usdt_target() {
        let s = lay_over(&base(), &obj(json!({"daily_target_points": 15}))).unwrap();
        assert_eq!(s.daily_target_points, Some(15));
        assert_eq!(s.daily_target_usdt, None);
        let kept = overrides_after(
            &obj(json!({"daily_target_usdt": "500", "order_usdt": "5"})),
            &obj(json!({"daily_target_points": 15})),
        );
        assert_eq!(
            kept,
            obj(json!({"daily_target_points": 15, "order_usdt": "5"}))
        );
    }

    #[test]
    fn a_bad_override_names_its_field() {
        let e = lay_over(&base(), &obj(json!({"order_usdt": "-1"}))).unwrap_err();
        assert_eq!(e.field, "order_usdt");
        let e = lay_over(&base(), &obj(json!({"no_such": 1}))).unwrap_err();
        assert_eq!(e.field, "no_such");
        let e = lay_over(&base(), &obj(json!({"order_timeout_s": "soon"}))).unwrap_err();
        assert!(e.reason.contains("invalid type"), "{e}");
    }

    #[test]
    fn tags_are_trimmed_deduplicated_sorted_and_bounded() {
        let t = tags(&[" wave-2".into(), "vip".into(), "wave-2 ".into()]).unwrap();
        assert_eq!(t, vec!["vip".to_owned(), "wave-2".to_owned()]);
        assert_eq!(tags(&["".into()]).unwrap_err().field, "tags");
        assert!(tags(&["a,b".into()]).is_err());
        assert!(tags(&["x".repeat(65)]).is_err());
        assert!(tags(&["新".repeat(64)]).is_ok());
        let many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
        assert!(tags(&many).is_err());
        assert_eq!(tags_from_text("[\"a\",\"b\"]"), vec!["a", "b"]);
        assert!(tags_from_text("not json").is_empty());
    }
}
