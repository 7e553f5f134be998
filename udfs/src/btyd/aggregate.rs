//! [`FitAggregate`]: the aggregate function behind `bgnbd_fit`, `pareto_nbd_fit` and
//! `gamma_gamma_fit`. It gathers the group's customer rows (deduplicated with weights, so a
//! million customers take a few hundred thousand distinct rows), fits the model when the group
//! is finished, and returns a struct of the parameters and the log-likelihood.
//!
//! Rows with a NULL input are skipped; an invalid row (negative `x`, `t_x > T`...) is an
//! error naming the function and the values. A group without usable rows gives NULL; a
//! group whose data cannot identify the model is an error saying so.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::common::scalar::ScalarStructBuilder;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use crate::kernels::btyd::fit::Estimate;
use crate::kernels::btyd::observations::{Observations, Rows};

/// Checks one input row: `Ok(None)` skips it, `Err` explains why it is invalid.
pub type RowCheck<const N: usize> = fn([f64; N]) -> std::result::Result<Option<[f64; N]>, String>;

/// What one fitting aggregate does.
#[derive(Debug, Clone, Copy)]
pub struct FitSpec<const N: usize> {
    /// The SQL name.
    pub name: &'static str,
    /// The argument names (`x` first).
    pub inputs: [&'static str; N],
    /// The fitted parameter names (the result struct's fields, before `log_likelihood`).
    pub params: &'static [&'static str],
    /// Checks one row: `Ok(None)` skips it (e.g. non-repeaters for Gamma-Gamma).
    pub row: RowCheck<N>,
    /// Fits the model on the distinct rows, using up to the given number of threads.
    pub fit: fn(&Rows<N>, usize) -> std::result::Result<Estimate, String>,
}

impl<const N: usize> FitSpec<N> {
    /// The result struct's fields.
    pub fn fields(&self) -> Fields {
        self.params
            .iter()
            .chain(std::iter::once(&"log_likelihood"))
            .map(|name| Field::new(*name, DataType::Float64, true))
            .collect()
    }
}

/// A model-fitting aggregate function.
#[derive(Debug)]
pub struct FitAggregate<const N: usize> {
    spec: FitSpec<N>,
    documentation: Documentation,
    signature: Signature,
}

impl<const N: usize> FitAggregate<N> {
    /// The aggregate described by `spec`.
    pub fn new(spec: FitSpec<N>, documentation: Documentation) -> Self {
        FitAggregate {
            spec,
            documentation,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl<const N: usize> PartialEq for FitAggregate<N> {
    fn eq(&self, other: &Self) -> bool {
        self.spec.name == other.spec.name
    }
}

impl<const N: usize> Eq for FitAggregate<N> {}

impl<const N: usize> Hash for FitAggregate<N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.spec.name.hash(state);
    }
}

impl<const N: usize> AggregateUDFImpl for FitAggregate<N> {
    fn name(&self) -> &str {
        self.spec.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let names = self.spec.inputs.join(", ");
        if arg_types.len() != N {
            return crate::crm_err!(
                WrongArity,
                "{} takes {N} arguments ({names}), got {}",
                self.spec.name,
                arg_types.len()
            );
        }
        arg_types
            .iter()
            .zip(self.spec.inputs)
            .map(|(t, name)| {
                if t.is_numeric() || t.is_null() {
                    Ok(DataType::Float64)
                } else {
                    crate::crm_err!(
                        WrongType,
                        "{}: {name} must be a number, got {t}",
                        self.spec.name
                    )
                }
            })
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(self.spec.fields()))
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(FitAccumulator {
            spec: self.spec,
            observations: Observations::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)));
        Ok(self
            .spec
            .inputs
            .iter()
            .chain(std::iter::once(&"weight"))
            .map(|name| {
                Arc::new(Field::new(
                    format_state_name(args.name, name),
                    list.clone(),
                    true,
                ))
            })
            .collect())
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.documentation)
    }
}

/// Distinct rows and their weights, fitted in `evaluate`.
#[derive(Debug)]
struct FitAccumulator<const N: usize> {
    spec: FitSpec<N>,
    observations: Observations<N>,
}

fn list(values: Vec<f64>) -> ScalarValue {
    let len = values.len();
    let array = ListArray::new(
        Arc::new(Field::new_list_field(DataType::Float64, true)),
        OffsetBuffer::from_lengths([len]),
        Arc::new(Float64Array::from(values)),
        None,
    );
    ScalarValue::List(Arc::new(array))
}

impl<const N: usize> Accumulator for FitAccumulator<N> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let columns = values
            .iter()
            .map(|v| cast(v, &DataType::Float64))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let columns: Vec<&Float64Array> = columns
            .iter()
            .map(|c| c.as_primitive::<Float64Type>())
            .collect();
        let Some(first) = columns.first() else {
            return Ok(());
        };
        'rows: for i in 0..first.len() {
            let mut row = [0.0; N];
            for (value, column) in row.iter_mut().zip(&columns) {
                if column.is_null(i) {
                    continue 'rows;
                }
                *value = column.value(i);
            }
            match (self.spec.row)(row) {
                Ok(Some(row)) => self.observations.add(row, 1.0),
                Ok(None) => {}
                Err(message) => {
                    return crate::crm_err!(InvalidArgument, "{}: {message}", self.spec.name);
                }
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        if states.len() != N + 1 {
            return crate::crm_err!(
                Internal,
                "{}: expected {} state columns",
                self.spec.name,
                N + 1
            );
        }
        let lists: Vec<&ListArray> = states.iter().map(|s| s.as_list::<i32>()).collect();
        // Other groups' rows are distinct within each group: pushed as they come and combined
        // by the sort before the fit, rather than looked up one by one. Room for the rows
        // these lists cover (with GROUP BY each list array is a slice of a larger one, whose
        // `values()` are every group's).
        let offsets = lists[0].value_offsets();
        let covered = offsets[offsets.len() - 1] - offsets[0];
        self.observations
            .reserve_pushed(usize::try_from(covered).unwrap_or_default());
        for i in 0..lists[0].len() {
            if lists[0].is_null(i) {
                continue;
            }
            let parts: Vec<ArrayRef> = lists.iter().map(|l| l.value(i)).collect();
            let parts: Vec<&Float64Array> = parts
                .iter()
                .map(|p| p.as_primitive::<Float64Type>())
                .collect();
            for j in 0..parts[0].len() {
                let mut row = [0.0; N];
                for (value, part) in row.iter_mut().zip(&parts) {
                    *value = part.value(j);
                }
                self.observations.push(row, parts[N].value(j));
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        // In no particular order: the final step merges the rows into its own counts.
        let distinct = self.observations.distinct();
        let mut columns: Vec<Vec<f64>> = (0..=N).map(|_| Vec::with_capacity(distinct)).collect();
        for (row, weight) in self.observations.iter() {
            for (column, value) in columns.iter_mut().zip(row.iter().chain([&weight])) {
                column.push(*value);
            }
        }
        Ok(columns.into_iter().map(list).collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let fields = self.spec.fields();
        let rows = self.observations.rows();
        if rows.values.is_empty() {
            return Ok(ScalarStructBuilder::new_null(fields));
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let estimate = match (self.spec.fit)(&rows, threads) {
            Ok(estimate) => estimate,
            Err(message) => return crate::crm_err!(Data, "{}: {message}", self.spec.name),
        };
        let values = estimate
            .params
            .iter()
            .chain(std::iter::once(&estimate.log_likelihood));
        let mut builder = ScalarStructBuilder::new();
        for (field, value) in fields.iter().zip(values) {
            builder = builder.with_scalar(field.clone(), ScalarValue::Float64(Some(*value)));
        }
        builder.build()
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.observations.distinct() * (N * 8 + 8 + 16)
    }
}
