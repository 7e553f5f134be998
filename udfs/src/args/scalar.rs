//! Arguments of scalar functions. Each parameter has a name and a [`Kind`]; [`signature`] and
//! [`coerce`] are the planning-time check behind a user-defined signature, so a wrong type
//! fails before any row is read, with a message naming the function and the parameter.
//! [`Columns`] gives typed, per-row access to the coerced arguments at execution (a constant
//! argument is read once, not expanded to every row).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Float64Type, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Signature, Volatility};

use super::parse_numbers;

/// What a parameter accepts, and the type it is coerced to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A date or timestamp (a timestamp counts by its date): `Date32`.
    Date,
    /// Any integer type: `Int64`.
    Integer,
    /// Any numeric type (integer, float, decimal): `Float64`.
    Number,
    /// A boolean.
    Boolean,
    /// Text: `Utf8`.
    Text,
    /// An array of numbers, `List(Float64)`, or text like `'18;25;35'` (`Utf8`).
    Cuts,
    /// An array of text: `List(Utf8)`.
    TextArray,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Date => "a date or timestamp (e.g. DATE '2026-01-01')",
            Kind::Integer => "a whole number",
            Kind::Number => "a number",
            Kind::Boolean => "a boolean",
            Kind::Text => "text",
            Kind::Cuts => "an array of numbers (e.g. [10, 30, 90]) or text like '10;30;90'",
            Kind::TextArray => "an array of text (e.g. ['vip', 'new'])",
        }
    }

    /// The type an argument of `data_type` is coerced to; `None` when it does not fit.
    pub fn target(self, data_type: &DataType) -> Option<DataType> {
        use DataType::*;
        let is_text = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
        match (self, data_type) {
            (Kind::Cuts, Null) => Some(Utf8),
            (Kind::TextArray, Null) => Some(text_list()),
            (_, Null) => Some(self.canonical()),
            // Dictionary-encoded columns (e.g. from Parquet) are decoded to their values.
            (_, Dictionary(_, values)) => self.target(values),
            (Kind::Date, Date32 | Date64 | Timestamp(_, _)) => Some(Date32),
            (Kind::Integer, t) if t.is_integer() => Some(Int64),
            (Kind::Number, t) if t.is_numeric() => Some(Float64),
            (Kind::Boolean, Boolean) => Some(Boolean),
            (Kind::Text, t) if is_text(t) => Some(Utf8),
            (Kind::Cuts, t) if is_text(t) => Some(Utf8),
            (Kind::Cuts, List(f) | LargeList(f) | FixedSizeList(f, _))
                if f.data_type().is_numeric() || f.data_type().is_null() =>
            {
                Some(number_list())
            }
            (Kind::TextArray, List(f) | LargeList(f) | FixedSizeList(f, _))
                if is_text(f.data_type()) || f.data_type().is_null() =>
            {
                Some(text_list())
            }
            _ => None,
        }
    }

    fn canonical(self) -> DataType {
        match self {
            Kind::Date => DataType::Date32,
            Kind::Integer => DataType::Int64,
            Kind::Number => DataType::Float64,
            Kind::Boolean => DataType::Boolean,
            Kind::Text | Kind::Cuts => DataType::Utf8,
            Kind::TextArray => text_list(),
        }
    }
}

fn number_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// One parameter of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Param {
    /// Its name (shown in errors and usable as a named argument).
    pub name: &'static str,
    /// What it accepts.
    pub kind: Kind,
}

/// A parameter.
pub const fn param(name: &'static str, kind: Kind) -> Param {
    Param { name, kind }
}

/// A user-defined signature naming `params` (see [`coerce`] for the type check).
pub fn signature(params: &[Param], volatility: Volatility) -> Signature {
    Signature::user_defined(volatility)
        .with_parameter_names(params.iter().map(|p| p.name).collect())
        .expect("parameter names are distinct")
}

/// Checks the number of arguments (one of `arities`) and each argument's type; returns the
/// types to coerce them to. Errors are planning errors naming the function and parameter.
pub fn coerce(
    function: &str,
    params: &[Param],
    arities: &[usize],
    arg_types: &[DataType],
) -> Result<Vec<DataType>> {
    if !arities.contains(&arg_types.len()) {
        let counts = match arities {
            [] => "no".to_string(),
            [one] => one.to_string(),
            [init @ .., last] => format!(
                "{} or {last}",
                init.iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let names = params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
        return crate::crm_err!(
            WrongArity,
            "{function} takes {counts} arguments ({names}), got {}",
            arg_types.len()
        );
    }
    params
        .iter()
        .zip(arg_types)
        .map(|(param, data_type)| {
            param.kind.target(data_type).map_or_else(
                || {
                    crate::crm_err!(
                        WrongType,
                        "{function}: {} must be {}, got {data_type}",
                        param.name,
                        param.kind.describe()
                    )
                },
                Ok,
            )
        })
        .collect()
}

/// The coerced arguments of one call, by position; constants are kept as one-row arrays.
#[derive(Debug)]
pub struct Columns {
    arrays: Vec<ArrayRef>,
    constant: Vec<bool>,
}

impl Columns {
    /// Typed columns for `args` (cast to each kind's type, in case a caller skipped
    /// coercion; a no-op otherwise).
    pub fn new(args: &[ColumnarValue], params: &[Param]) -> Result<Columns> {
        let mut arrays = Vec::with_capacity(args.len());
        let mut constant = Vec::with_capacity(args.len());
        for (arg, param) in args.iter().zip(params) {
            let (array, is_constant) = match arg {
                ColumnarValue::Array(array) => (Arc::clone(array), false),
                ColumnarValue::Scalar(value) => (value.to_array_of_size(1)?, true),
            };
            let target = param
                .kind
                .target(array.data_type())
                .unwrap_or_else(|| param.kind.canonical());
            let array = if array.data_type() == &target {
                array
            } else {
                cast(&array, &target)?
            };
            arrays.push(array);
            constant.push(is_constant);
        }
        Ok(Columns { arrays, constant })
    }

    /// Columns from arrays (for tests and callers that already hold arrays).
    pub fn from_arrays(arrays: Vec<ArrayRef>) -> Columns {
        let constant = vec![false; arrays.len()];
        Columns { arrays, constant }
    }

    /// How many arguments were passed.
    pub fn len(&self) -> usize {
        self.arrays.len()
    }

    /// Whether no argument was passed.
    pub fn is_empty(&self) -> bool {
        self.arrays.is_empty()
    }

    /// Whether argument `i` was passed.
    pub fn has(&self, i: usize) -> bool {
        i < self.arrays.len()
    }

    /// Whether argument `i` is a constant (the same for every row).
    pub fn is_constant(&self, i: usize) -> bool {
        self.constant.get(i).copied().unwrap_or(true)
    }

    /// The array of argument `i`.
    pub fn array(&self, i: usize) -> &ArrayRef {
        &self.arrays[i]
    }

    /// The index into argument `i`'s array for `row`.
    pub fn index(&self, i: usize, row: usize) -> usize {
        if self.constant[i] { 0 } else { row }
    }

    fn valid(&self, i: usize, row: usize) -> Option<(&ArrayRef, usize)> {
        let array = self.arrays.get(i)?;
        let index = self.index(i, row);
        array.is_valid(index).then_some((array, index))
    }

    /// A date argument in days since 1970-01-01 (`None` when NULL or not passed).
    pub fn date(&self, i: usize, row: usize) -> Option<i32> {
        let (array, index) = self.valid(i, row)?;
        Some(array.as_primitive::<Date32Type>().value(index))
    }

    /// An integer argument.
    pub fn int(&self, i: usize, row: usize) -> Option<i64> {
        let (array, index) = self.valid(i, row)?;
        Some(array.as_primitive::<Int64Type>().value(index))
    }

    /// A numeric argument.
    pub fn number(&self, i: usize, row: usize) -> Option<f64> {
        let (array, index) = self.valid(i, row)?;
        Some(array.as_primitive::<Float64Type>().value(index))
    }

    /// A boolean argument.
    pub fn boolean(&self, i: usize, row: usize) -> Option<bool> {
        let (array, index) = self.valid(i, row)?;
        Some(array.as_boolean().value(index))
    }

    /// A text argument.
    pub fn text(&self, i: usize, row: usize) -> Option<&str> {
        let (array, index) = self.valid(i, row)?;
        Some(array.as_string::<i32>().value(index))
    }

    /// The elements of an array argument (`List`), `None` when the array itself is NULL.
    pub fn list(&self, i: usize, row: usize) -> Option<ArrayRef> {
        let (array, index) = self.valid(i, row)?;
        Some(array.as_list::<i32>().value(index))
    }

    /// A [`Kind::Cuts`] argument: strictly ascending finite numbers, from text (`'10;30;90'`)
    /// or an array. `None` when NULL; an execution error naming `function` and `name` when
    /// the cuts are malformed.
    pub fn cuts(
        &self,
        function: &str,
        name: &str,
        i: usize,
        row: usize,
    ) -> Result<Option<Vec<f64>>> {
        match self.numbers(function, name, i, row)? {
            Some(cuts) => check_ascending(cuts).map(Some).map_err(|message| {
                crate::crm_error!(InvalidArgument, "{function}: {name}: {message}")
            }),
            None => Ok(None),
        }
    }

    /// A [`Kind::Cuts`] argument read as a list of finite numbers in the given order.
    pub fn numbers(
        &self,
        function: &str,
        name: &str,
        i: usize,
        row: usize,
    ) -> Result<Option<Vec<f64>>> {
        let Some((array, index)) = self.valid(i, row) else {
            return Ok(None);
        };
        let parsed = match array.data_type() {
            DataType::Utf8 => parse_numbers(array.as_string::<i32>().value(index)),
            DataType::List(_) => {
                let values = array.as_list::<i32>().value(index);
                let values = values.as_primitive::<Float64Type>();
                if values.null_count() > 0 {
                    Err("an array of numbers must not contain NULL".to_string())
                } else {
                    Ok(values.values().to_vec())
                }
            }
            other => Err(format!("unexpected type {other}")),
        };
        match parsed {
            Ok(numbers) if numbers.iter().all(|n| n.is_finite()) => Ok(Some(numbers)),
            Ok(_) => crate::crm_err!(
                InvalidArgument,
                "{function}: {name}: numbers must be finite"
            ),
            Err(message) => crate::crm_err!(InvalidArgument, "{function}: {name}: {message}"),
        }
    }
}

fn check_ascending(cuts: Vec<f64>) -> std::result::Result<Vec<f64>, String> {
    if cuts.is_empty() {
        return Err("give at least one cut point".to_string());
    }
    if cuts.iter().any(|c| !c.is_finite()) || cuts.windows(2).any(|w| w[0] >= w[1]) {
        let text = cuts
            .iter()
            .map(f64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(format!(
            "cut points must be finite and strictly ascending: [{text}]"
        ));
    }
    Ok(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, ListArray, StringArray};
    use datafusion::arrow::datatypes::TimeUnit;
    use datafusion::common::ScalarValue;

    const PARAMS: &[Param] = &[param("when", Kind::Date), param("cuts", Kind::Cuts)];

    #[test]
    fn coercion_accepts_and_refuses() {
        let ts = DataType::Timestamp(TimeUnit::Second, None);
        assert_eq!(
            coerce("f", PARAMS, &[1, 2], std::slice::from_ref(&ts)).unwrap(),
            vec![DataType::Date32]
        );
        let ints = DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true)));
        assert_eq!(
            coerce("f", PARAMS, &[2], &[DataType::Date32, ints]).unwrap()[1],
            number_list()
        );
        let err = coerce("f", PARAMS, &[2], &[DataType::Int64, DataType::Utf8]).unwrap_err();
        assert!(err.to_string().contains("f: when must be a date"), "{err}");
        let err = coerce("f", PARAMS, &[2], &[ts]).unwrap_err();
        assert!(
            err.to_string()
                .contains("f takes 2 arguments (when, cuts), got 1"),
            "{err}"
        );
        assert_eq!(Kind::Number.target(&DataType::Utf8), None);
        assert_eq!(Kind::Integer.target(&DataType::Float64), None);
        assert_eq!(Kind::TextArray.target(&DataType::Null), Some(text_list()));
        let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        assert_eq!(Kind::Text.target(&dictionary), Some(DataType::Utf8));
    }

    #[test]
    fn cuts_from_text_or_arrays() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("10;30"), Some("30;10"), None]));
        let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            Some(vec![Some(1.0), None]),
            Some(vec![]),
        ]));
        let columns = Columns::from_arrays(vec![text, list]);
        assert_eq!(
            columns.cuts("f", "cuts", 0, 0).unwrap(),
            Some(vec![10.0, 30.0])
        );
        assert!(columns.cuts("f", "cuts", 0, 1).is_err());
        assert_eq!(columns.cuts("f", "cuts", 0, 2).unwrap(), None);
        assert_eq!(
            columns.cuts("f", "cuts", 1, 0).unwrap(),
            Some(vec![1.0, 2.0])
        );
        assert!(columns.cuts("f", "cuts", 1, 1).is_err());
        assert!(columns.cuts("f", "cuts", 1, 2).is_err());
    }

    #[test]
    fn constants_are_read_once() {
        let args = vec![
            ColumnarValue::Scalar(ScalarValue::Date32(Some(7))),
            ColumnarValue::Array(Arc::new(Float64Array::from(vec![1.0, 2.0]))),
        ];
        let params = [param("d", Kind::Date), param("x", Kind::Number)];
        let columns = Columns::new(&args, &params).unwrap();
        assert!(columns.is_constant(0));
        assert_eq!(columns.date(0, 1), Some(7));
        assert_eq!(columns.number(1, 1), Some(2.0));
        assert_eq!(columns.number(2, 1), None);
        assert!(!columns.has(2));
    }
}
