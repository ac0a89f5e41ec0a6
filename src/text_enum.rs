//! Closed sets of values stored as text (states, sides, roles), checked on the way in and out.

/// Declares an enum stored as `Text` on both backends, with `as_str`, `FromStr` and `Display`.
/// A stored value outside the set is a decode error naming the type, never a panic.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::diesel::expression::AsExpression, ::diesel::deserialize::FromSqlRow, ::serde::Serialize, ::serde::Deserialize)]
        #[diesel(sql_type = ::diesel::sql_types::Text)]
        $vis enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("{other:?} is not a valid {} (expected one of: {})",
                        stringify!($name), [$($text),+].join(", "))),
                }
            }
        }

        impl ::diesel::deserialize::FromSql<::diesel::sql_types::Text, ::diesel::sqlite::Sqlite> for $name {
            fn from_sql(v: <::diesel::sqlite::Sqlite as ::diesel::backend::Backend>::RawValue<'_>) -> ::diesel::deserialize::Result<Self> {
                let s = <String as ::diesel::deserialize::FromSql<::diesel::sql_types::Text, ::diesel::sqlite::Sqlite>>::from_sql(v)?;
                s.parse().map_err(Into::into)
            }
        }

        impl ::diesel::serialize::ToSql<::diesel::sql_types::Text, ::diesel::sqlite::Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut ::diesel::serialize::Output<'b, '_, ::diesel::sqlite::Sqlite>) -> ::diesel::serialize::Result {
                out.set_value(self.as_str());
                Ok(::diesel::serialize::IsNull::No)
            }
        }

        impl ::diesel::deserialize::FromSql<::diesel::sql_types::Text, ::diesel::pg::Pg> for $name {
            fn from_sql(v: <::diesel::pg::Pg as ::diesel::backend::Backend>::RawValue<'_>) -> ::diesel::deserialize::Result<Self> {
                let s = <String as ::diesel::deserialize::FromSql<::diesel::sql_types::Text, ::diesel::pg::Pg>>::from_sql(v)?;
                s.parse().map_err(Into::into)
            }
        }

        impl ::diesel::serialize::ToSql<::diesel::sql_types::Text, ::diesel::pg::Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut ::diesel::serialize::Output<'b, '_, ::diesel::pg::Pg>) -> ::diesel::serialize::Result {
                use ::std::io::Write;
                out.write_all(self.as_str().as_bytes())?;
                Ok(::diesel::serialize::IsNull::No)
            }
        }
    };
}
