//! [`NumericFunction`]: a scalar function whose arguments are all numbers and whose result is
//! a DOUBLE, computed row by row by a pure kernel. The BTYD prediction functions are all of
//! this shape; each function file supplies its parameters, kernel and documentation.
//!
//! NULL in any argument gives NULL. A kernel error (a non-positive parameter, `t_x > T`...)
//! or a result that is not a finite number is an execution error naming the function and the
//! offending values.

use std::hash::{Hash, Hasher};

use datafusion::arrow::array::Float64Builder;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::scalar::{Columns, Param, coerce, signature};

/// Computes one row's result from its arguments (in parameter order).
pub type Kernel = fn(&[f64]) -> std::result::Result<f64, String>;

/// A scalar function of numbers returning a number.
#[derive(Debug)]
pub struct NumericFunction {
    name: &'static str,
    params: &'static [Param],
    kernel: Kernel,
    documentation: Documentation,
    signature: Signature,
}

impl NumericFunction {
    /// A function `name(params...)` computed by `kernel` (every parameter must be
    /// [`Kind::Number`](crate::args::scalar::Kind::Number)).
    pub fn new(
        name: &'static str,
        params: &'static [Param],
        kernel: Kernel,
        documentation: Documentation,
    ) -> NumericFunction {
        NumericFunction {
            name,
            params,
            kernel,
            documentation,
            signature: signature(params, Volatility::Immutable),
        }
    }

    /// The kernel over `rows` rows of `columns`.
    fn compute(&self, rows: usize, columns: &Columns) -> Result<ColumnarValue> {
        let mut out = Float64Builder::with_capacity(rows);
        let mut values = vec![0.0; self.params.len()];
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
            match (self.kernel)(&values) {
                Ok(result) if result.is_finite() => out.append_value(result),
                Ok(result) => {
                    return crate::crm_err!(
                        Data,
                        "{}: the result is not a finite number ({result}) for arguments {values:?}",
                        self.name
                    );
                }
                Err(message) => {
                    return crate::crm_err!(InvalidArgument, "{}: {message}", self.name);
                }
            }
        }
        Ok(ColumnarValue::Array(std::sync::Arc::new(out.finish())))
    }
}

impl PartialEq for NumericFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for NumericFunction {}

impl Hash for NumericFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for NumericFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce(self.name, self.params, &[self.params.len()], arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let columns = Columns::new(&args.args, self.params)?;
        let all_constant = (0..self.params.len()).all(|i| columns.is_constant(i));
        let rows = if all_constant { 1 } else { args.number_rows };
        let result = self.compute(rows, &columns)?;
        if all_constant && let ColumnarValue::Array(array) = &result {
            return Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(array, 0)?,
            ));
        }
        Ok(result)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.documentation)
    }
}

/// Reads a whole-number argument (months, counts) given as a DOUBLE.
pub fn whole(name: &str, value: f64) -> std::result::Result<i64, String> {
    if value.fract() == 0.0 && value.abs() < 1e9 {
        Ok(value as i64)
    } else {
        Err(format!("{name} must be a whole number, got {value}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::scalar::{Kind, param};
    use datafusion::arrow::array::{Array, AsArray, Float64Array};
    use datafusion::arrow::datatypes::Float64Type;

    const PARAMS: &[Param] = &[param("u", Kind::Number), param("v", Kind::Number)];

    fn ratio(v: &[f64]) -> std::result::Result<f64, String> {
        if v[1] == 0.0 {
            Err("v must not be 0".to_string())
        } else {
            Ok(v[0] / v[1])
        }
    }

    fn function() -> NumericFunction {
        NumericFunction::new(
            "ratio",
            PARAMS,
            ratio,
            crate::docs::builder("d", "s").build(),
        )
    }

    #[test]
    fn nulls_give_null_and_errors_name_the_function() {
        let f = function();
        let columns = Columns::from_arrays(vec![
            std::sync::Arc::new(Float64Array::from(vec![Some(1.0), None, Some(3.0)])),
            std::sync::Arc::new(Float64Array::from(vec![Some(2.0), Some(1.0), None])),
        ]);
        let ColumnarValue::Array(out) = f.compute(3, &columns).unwrap() else {
            panic!("array expected")
        };
        let out = out.as_primitive::<Float64Type>();
        assert_eq!(out.value(0), 0.5);
        assert!(out.is_null(1) && out.is_null(2));
        let zero = Columns::from_arrays(vec![
            std::sync::Arc::new(Float64Array::from(vec![1.0])),
            std::sync::Arc::new(Float64Array::from(vec![0.0])),
        ]);
        let err = f.compute(1, &zero).unwrap_err().to_string();
        assert!(err.contains("ratio: v must not be 0"), "{err}");
        assert!(
            f.coerce_types(&[DataType::Utf8, DataType::Float64])
                .is_err()
        );
        assert_eq!(whole("months", 12.0), Ok(12));
        assert!(whole("months", 1.5).is_err());
    }
}
