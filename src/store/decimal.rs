//! Exact decimals in the database: canonical text in both dialects, never a float.

use std::str::FromStr;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;
use rust_decimal::Decimal;

/// A decimal as the database stores it: normalised text (`"0.1"`, never `"0.10"`), so that equal
/// amounts compare equal inside unique keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct Dec(pub Decimal);

impl Dec {
    pub fn canonical(&self) -> String {
        self.0.normalize().to_string()
    }

    fn parse(raw: &str) -> deserialize::Result<Self> {
        Decimal::from_str(raw)
            .map(Dec)
            .map_err(|e| format!("stored value {raw:?} is not a decimal: {e}").into())
    }
}

impl From<Decimal> for Dec {
    fn from(d: Decimal) -> Self {
        Dec(d)
    }
}

impl From<Dec> for Decimal {
    fn from(d: Dec) -> Self {
        d.0
    }
}

impl FromSql<Text, Sqlite> for Dec {
    fn from_sql(
        bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        let s = <String as FromSql<Text, Sqlite>>::from_sql(bytes)?;
        Dec::parse(&s)
    }
}

impl ToSql<Text, Sqlite> for Dec {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.canonical());
        Ok(IsNull::No)
    }
}

impl FromSql<Text, Pg> for Dec {
    fn from_sql(
        bytes: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        let s = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
        Dec::parse(&s)
    }
}

impl ToSql<Text, Pg> for Dec {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        use std::io::Write;
        out.write_all(self.canonical().as_bytes())?;
        Ok(IsNull::No)
    }
}
