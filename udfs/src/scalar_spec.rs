//! [`ScalarSpec`]: a scalar CRM function written once (name, parameters, return type, kernel
//! and documentation) and [`SpecFunction`], the one `ScalarUDFImpl` behind every spec. A
//! function file holds its spec, its kernel and its tests; the signature check, argument
//! coercion, NULL handling of numeric kernels, constant folding and the documentation come
//! from here.
//!
//! Kernels come in two shapes:
//! - [`Kernel::Arrays`]: the rows of the coerced arguments ([`Columns`]) to a result array,
//!   for functions of text, dates, arrays or several result rules ([`Kernel::Configured`]
//!   also reads the session's `segmint.*` settings);
//! - [`Kernel::Numbers`]: one row's numbers to one number, for functions of numbers
//!   returning a DOUBLE (the BTYD predictions). NULL in any argument gives NULL; a kernel
//!   error is an invalid argument and a result that is not finite is a data error, both
//!   naming the function and the values.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Builder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::CrmFunction;
use crate::args::scalar::{Columns, Param, coerce, signature};

/// How a function computes its result.
#[derive(Debug, Clone, Copy)]
pub enum Kernel {
    /// `rows` rows of the coerced arguments to the result array.
    Arrays(fn(usize, &Columns) -> Result<ArrayRef>),
    /// The same, with the session's settings (`segmint.*` defaults).
    Configured(fn(usize, &Columns, &ConfigOptions) -> Result<ArrayRef>),
    /// One row's arguments (all numbers, in parameter order) to one number.
    Numbers(fn(&[f64]) -> std::result::Result<f64, String>),
}

/// A function's documentation: `\df+`, `FUNCTIONS.md` and `information_schema.routines`
/// show it.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    /// What it computes and means, its rule (cite crm-reference) and its NULL behaviour.
    pub description: &'static str,
    /// The call syntax, e.g. `rfm_segment(r_score, f_score, m_score [, preset])`.
    pub syntax: &'static str,
    /// Each argument (or group of arguments) and what it is.
    pub arguments: &'static [(&'static str, &'static str)],
    /// A runnable example with its result.
    pub example: &'static str,
}

/// A scalar CRM function.
#[derive(Debug, Clone)]
pub struct ScalarSpec {
    /// The SQL name.
    pub name: &'static str,
    /// The parameters, in order.
    pub params: &'static [Param],
    /// How many arguments a call may pass (the leading parameters); empty: all of them.
    pub arities: &'static [usize],
    /// The result type.
    pub returns: DataType,
    /// How rows are computed.
    pub kernel: Kernel,
    /// Whether the result depends only on the arguments.
    pub volatility: Volatility,
    /// Whether NULL in any argument gives NULL (which lets the optimizer fold such calls).
    pub strict: bool,
    /// The documentation.
    pub doc: Doc,
}

impl ScalarSpec {
    /// An immutable, non-strict function taking all of `params`; [`arities`](Self::arities)
    /// and [`strict`](Self::strict) change that.
    pub fn new(
        name: &'static str,
        params: &'static [Param],
        returns: DataType,
        kernel: Kernel,
        doc: Doc,
    ) -> ScalarSpec {
        ScalarSpec {
            name,
            params,
            arities: &[],
            returns,
            kernel,
            volatility: Volatility::Immutable,
            strict: false,
            doc,
        }
    }

    /// Calls may pass only the leading `arities` parameters (e.g. `&[2, 3]`).
    pub fn arities(mut self, arities: &'static [usize]) -> ScalarSpec {
        self.arities = arities;
        self
    }

    /// NULL in any argument gives NULL.
    pub fn strict(mut self) -> ScalarSpec {
        self.strict = true;
        self
    }

    /// A function of numbers returning a DOUBLE, every parameter required.
    pub fn numbers(
        name: &'static str,
        params: &'static [Param],
        kernel: fn(&[f64]) -> std::result::Result<f64, String>,
        doc: Doc,
    ) -> ScalarSpec {
        ScalarSpec::new(
            name,
            params,
            DataType::Float64,
            Kernel::Numbers(kernel),
            doc,
        )
        .strict()
    }

    /// The registered function.
    pub fn into_function(self) -> CrmFunction {
        CrmFunction::Scalar(ScalarUDF::new_from_impl(SpecFunction::new(self)))
    }
}

/// The `ScalarUDFImpl` of a [`ScalarSpec`].
#[derive(Debug)]
pub struct SpecFunction {
    spec: ScalarSpec,
    signature: Signature,
    documentation: Documentation,
}

impl SpecFunction {
    /// The function `spec` describes.
    pub fn new(spec: ScalarSpec) -> Self {
        let doc = spec.doc;
        let mut builder = crate::docs::builder(doc.description, doc.syntax);
        for (name, text) in doc.arguments {
            builder = builder.with_argument(*name, *text);
        }
        SpecFunction {
            signature: signature(spec.params, spec.volatility),
            documentation: builder.with_sql_example(doc.example).build(),
            spec,
        }
    }

    fn compute(&self, columns: &Columns, rows: usize, config: &ConfigOptions) -> Result<ArrayRef> {
        match self.spec.kernel {
            Kernel::Arrays(kernel) => kernel(rows, columns),
            Kernel::Configured(kernel) => kernel(rows, columns, config),
            Kernel::Numbers(kernel) => numbers(self.spec.name, kernel, columns, rows),
        }
    }
}

/// A numeric kernel over `rows` rows.
fn numbers(
    name: &str,
    kernel: fn(&[f64]) -> std::result::Result<f64, String>,
    columns: &Columns,
    rows: usize,
) -> Result<ArrayRef> {
    let mut out = Float64Builder::with_capacity(rows);
    let mut values = vec![0.0; columns.len()];
    'rows: for row in 0..rows {
        for (i, value) in values.iter_mut().enumerate() {
            match columns.number(i, row) {
                Some(v) => *value = v,
                None => {
                    out.append_null();
                    continue 'rows;
                }
            }
        }
        match kernel(&values) {
            Ok(result) if result.is_finite() => out.append_value(result),
            Ok(result) => {
                return crate::crm_err!(
                    Data,
                    "{name}: the result is not a finite number ({result}) for arguments {values:?}"
                );
            }
            Err(message) => return crate::crm_err!(InvalidArgument, "{name}: {message}"),
        }
    }
    Ok(Arc::new(out.finish()))
}

impl PartialEq for SpecFunction {
    fn eq(&self, other: &Self) -> bool {
        self.spec.name == other.spec.name
    }
}

impl Eq for SpecFunction {}

impl Hash for SpecFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.spec.name.hash(state);
    }
}

impl ScalarUDFImpl for SpecFunction {
    fn name(&self) -> &str {
        self.spec.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let all = [self.spec.params.len()];
        let arities = match self.spec.arities {
            [] => &all[..],
            arities => arities,
        };
        coerce(self.spec.name, self.spec.params, arities, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.spec.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let columns = Columns::new(&args.args, self.spec.params)?;
        // Constant arguments are computed once.
        let all_constant = (0..columns.len()).all(|i| columns.is_constant(i));
        if all_constant && self.spec.volatility == Volatility::Immutable {
            let array = self.compute(&columns, 1, &args.config_options)?;
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &array, 0,
            )?));
        }
        let rows = args.number_rows;
        Ok(ColumnarValue::Array(self.compute(
            &columns,
            rows,
            &args.config_options,
        )?))
    }

    fn is_strict(&self) -> bool {
        self.spec.strict
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.documentation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::scalar::{Kind, param};
    use datafusion::arrow::array::{Array, AsArray, Float64Array, StringBuilder};
    use datafusion::arrow::datatypes::{Field, Float64Type};

    const PARAMS: &[Param] = &[param("u", Kind::Number), param("v", Kind::Number)];

    fn ratio(v: &[f64]) -> std::result::Result<f64, String> {
        if v[1] == 0.0 {
            return Err("v must not be 0".into());
        }
        Ok(v[0] / v[1])
    }

    fn labels(rows: usize, columns: &Columns) -> Result<ArrayRef> {
        let mut out = StringBuilder::new();
        for row in 0..rows {
            out.append_option(
                columns
                    .number(0, row)
                    .map(|u| if u > 0.0 { "up" } else { "down" }),
            );
        }
        Ok(Arc::new(out.finish()))
    }

    fn spec(kernel: Kernel, returns: DataType) -> SpecFunction {
        SpecFunction::new(ScalarSpec {
            name: "ratio",
            params: PARAMS,
            arities: &[2],
            returns,
            kernel,
            volatility: Volatility::Immutable,
            strict: true,
            doc: Doc {
                description: "u / v.",
                syntax: "ratio(u, v)",
                arguments: &[("u, v", "numbers")],
                example: "SELECT ratio(1, 2); -- 0.5",
            },
        })
    }

    fn invoke(
        function: &SpecFunction,
        args: Vec<ColumnarValue>,
        rows: usize,
    ) -> Result<ColumnarValue> {
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        function.invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields,
            number_rows: rows,
            return_field: Arc::new(Field::new("r", function.spec.returns.clone(), true)),
            config_options: Arc::new(ConfigOptions::default()),
        })
    }

    #[test]
    fn numeric_kernels_skip_nulls_and_name_bad_values() {
        let function = spec(Kernel::Numbers(ratio), DataType::Float64);
        let u = ColumnarValue::Array(Arc::new(Float64Array::from(vec![
            Some(1.0),
            None,
            Some(3.0),
        ])));
        let v = ColumnarValue::Scalar(ScalarValue::Float64(Some(2.0)));
        let ColumnarValue::Array(out) = invoke(&function, vec![u.clone(), v], 3).expect("runs")
        else {
            panic!("an array");
        };
        let out = out.as_primitive::<Float64Type>();
        assert_eq!(out.value(0), 0.5);
        assert!(out.is_null(1));
        let zero = ColumnarValue::Scalar(ScalarValue::Float64(Some(0.0)));
        let error = invoke(&function, vec![u, zero], 3).expect_err("v = 0");
        let error = crate::error::find(&error).expect("a CRM error");
        assert_eq!(error.kind, crate::error::ErrorKind::InvalidArgument);
        assert!(
            error.message.starts_with("ratio: v must not be 0"),
            "{}",
            error.message
        );
    }

    #[test]
    fn constants_are_computed_once_and_documentation_is_built() {
        let function = spec(Kernel::Arrays(labels), DataType::Utf8);
        let one = ColumnarValue::Scalar(ScalarValue::Float64(Some(1.0)));
        let out = invoke(&function, vec![one.clone(), one], 1000).expect("runs");
        assert_eq!(
            out.into_array(1)
                .expect("array")
                .as_string::<i32>()
                .value(0),
            "up"
        );
        let doc = function.documentation().expect("documented");
        assert_eq!(doc.syntax_example, "ratio(u, v)");
        assert_eq!(
            doc.sql_example.as_deref(),
            Some("SELECT ratio(1, 2); -- 0.5")
        );
        assert_eq!(
            function
                .coerce_types(&[DataType::Int32, DataType::Float32])
                .expect("numbers"),
            vec![DataType::Float64, DataType::Float64]
        );
        assert!(
            function
                .coerce_types(&[DataType::Utf8, DataType::Int32])
                .is_err()
        );
    }
}
