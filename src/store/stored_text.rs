//! How the store keeps the crate's closed sets of text values (`crate::text_enum!`): as `Text`
//! on both backends, checked on the way out. A stored value outside the set is a decode error
//! naming the type, never a panic. The types themselves know nothing of the store.

use crate::domain::cycle::Outcome;
use crate::domain::shown::AccountState;
use crate::market::Side;

use super::models::{
    CycleState, Desired, EventLevel, OffsetMode, OrderRole, StoredStatus, WebhookStatus,
};

/// Lets diesel read and write `$ty` as text: a proxy carries diesel's derives for the foreign
/// type, and the two backends' `FromSql`/`ToSql` go through `as_str` and `FromStr`.
macro_rules! stored_as_text {
    ($($module:ident: $ty:ty),+ $(,)?) => {$(
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            #[derive(::diesel::expression::AsExpression, ::diesel::deserialize::FromSqlRow)]
            #[diesel(foreign_derive, sql_type = ::diesel::sql_types::Text)]
            #[allow(dead_code)]
            struct Proxy($ty);

            impl ::diesel::deserialize::FromSql<::diesel::sql_types::Text, ::diesel::sqlite::Sqlite> for $ty {
                fn from_sql(v: <::diesel::sqlite::Sqlite as ::diesel::backend::Backend>::RawValue<'_>) -> ::diesel::deserialize::Result<Self> {
                    let s = <String as ::diesel::deserialize::FromSql<::diesel::sql_types::Text, ::diesel::sqlite::Sqlite>>::from_sql(v)?;
                    s.parse().map_err(Into::into)
                }
            }

            impl ::diesel::serialize::ToSql<::diesel::sql_types::Text, ::diesel::sqlite::Sqlite> for $ty {
                fn to_sql<'b>(&'b self, out: &mut ::diesel::serialize::Output<'b, '_, ::diesel::sqlite::Sqlite>) -> ::diesel::serialize::Result {
                    out.set_value(self.as_str());
                    Ok(::diesel::serialize::IsNull::No)
                }
            }

            impl ::diesel::deserialize::FromSql<::diesel::sql_types::Text, ::diesel::pg::Pg> for $ty {
                fn from_sql(v: <::diesel::pg::Pg as ::diesel::backend::Backend>::RawValue<'_>) -> ::diesel::deserialize::Result<Self> {
                    let s = <String as ::diesel::deserialize::FromSql<::diesel::sql_types::Text, ::diesel::pg::Pg>>::from_sql(v)?;
                    s.parse().map_err(Into::into)
                }
            }

            impl ::diesel::serialize::ToSql<::diesel::sql_types::Text, ::diesel::pg::Pg> for $ty {
                fn to_sql<'b>(&'b self, out: &mut ::diesel::serialize::Output<'b, '_, ::diesel::pg::Pg>) -> ::diesel::serialize::Result {
                    use ::std::io::Write;
                    out.write_all(self.as_str().as_bytes())?;
                    Ok(::diesel::serialize::IsNull::No)
                }
            }
        }
    )+};
}

stored_as_text!(
    side: Side,
    account_state: AccountState,
    desired: Desired,
    order_role: OrderRole,
    stored_status: StoredStatus,
    offset_mode: OffsetMode,
    event_level: EventLevel,
    webhook_status: WebhookStatus,
    cycle_state: CycleState,
    outcome: Outcome,
);
