//! Reading columns so that schema drift is an error, not a default: a missing column, a
//! NULL where a value must be, a stored id or enum that does not parse, a boolean that is
//! not 0 or 1, a negative size. Each failure is an internal [`Error`] whose detail names
//! `table.column` and whose source is the decoding error, so the log says what drifted;
//! the client sees the generic internal message. Use this instead of
//! `row.try_get(..).unwrap_or_default()`.

use std::{fmt, str::FromStr};

use sqlx::{any::AnyRow, Any, Decode, Row, Type};
use types::Error;

/// The value of `column` of a row of `table` (the table only names the failure).
pub fn get<'r, T>(row: &'r AnyRow, table: &str, column: &str) -> Result<T, Error>
where
    T: Decode<'r, Any> + Type<Any>,
{
    row.try_get(column)
        .map_err(|e| Error::internal_from(e).with_detail(format!("reading {table}.{column}")))
}

/// The columns of one row of a table: `Columns::new("images", &row).get("name")?`.
#[derive(Clone, Copy)]
pub struct Columns<'r> {
    table: &'r str,
    row: &'r AnyRow,
}

impl<'r> Columns<'r> {
    pub fn new(table: &'r str, row: &'r AnyRow) -> Self {
        Columns { table, row }
    }

    /// A column's value as sqlx decodes it ([`get`]); `Option<T>` for a nullable column.
    pub fn get<T: Decode<'r, Any> + Type<Any>>(&self, column: &str) -> Result<T, Error> {
        get(self.row, self.table, column)
    }

    /// A boolean stored as `0`/`1` (see [`crate::flag`]); any other number is an error.
    pub fn flag(&self, column: &str) -> Result<bool, Error> {
        match self.get::<i64>(column)? {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(self.invalid(column, n, "not a 0/1 flag")),
        }
    }

    /// An integer column converted to the type the code uses (`u64` sizes, `u32`
    /// counts): out of range is an error, never a truncation.
    pub fn int<T: TryFrom<i64>>(&self, column: &str) -> Result<T, Error> {
        let n = self.get::<i64>(column)?;
        T::try_from(n).map_err(|_| {
            self.invalid(
                column,
                n,
                format_args!("out of range for {}", std::any::type_name::<T>()),
            )
        })
    }

    /// A text column holding a value of a type with `FromStr`: a status, a
    /// timestamp (`chrono::DateTime<Utc>`), an id kept as text elsewhere.
    pub fn parse<T: FromStr>(&self, column: &str) -> Result<T, Error>
    where
        T::Err: fmt::Display,
    {
        let text = self.get::<String>(column)?;
        self.parse_text(column, &text)
    }

    /// [`Columns::parse`] of a nullable column.
    pub fn parse_opt<T: FromStr>(&self, column: &str) -> Result<Option<T>, Error>
    where
        T::Err: fmt::Display,
    {
        self.get::<Option<String>>(column)?
            .map(|text| self.parse_text(column, &text))
            .transpose()
    }

    fn parse_text<T: FromStr>(&self, column: &str, text: &str) -> Result<T, Error>
    where
        T::Err: fmt::Display,
    {
        text.parse()
            .map_err(|e: T::Err| self.invalid(column, format_args!("{text:?}"), e))
    }

    fn invalid(&self, column: &str, value: impl fmt::Display, why: impl fmt::Display) -> Error {
        Error::internal(format!(
            "reading {}.{column}: stored value {value}: {why}",
            self.table
        ))
    }
}
