//! `pareto_nbd_fit(x, t_x, T)`: maximum-likelihood Pareto/NBD parameters for a group of
//! customers, as a struct `{r, alpha, s, beta, log_likelihood}` (crm-reference §4.2).
//!
//! Business meaning: as `bgnbd_fit`, for the model where customers may drop out at any time.
//! Fitted by L-BFGS with the analytic gradient from several starting points over distinct
//! `(x, t_x, T)` rows with weights, searching over `ln r`, `ln α`, the log of the mean dropout
//! rate `s/β` and `1/√s`, so a shop whose customers all drop out at about the same rate (the
//! exponential-dropout limit, `s → ∞`) is reached directly and reported as `s` = 10⁶,
//! `β = 10⁶ / (s/β)`. On the CDNOW sample it reproduces the published r = 0.553, α = 10.578,
//! s = 0.606, β = 11.669, LL = −9595.0.
//!
//! Rows with a NULL input are skipped; NULL for a group without rows. Errors as `bgnbd_fit`.

use std::sync::OnceLock;

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::CrmFunction;
use crate::btyd::aggregate::{FitAggregate, FitSpec};
use crate::functions::bgnbd_fit::history_row;
use crate::kernels::btyd::pareto_nbd::{NAMES, fit};

/// Registers `pareto_nbd_fit`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Aggregate(AggregateUDF::new_from_impl(
        FitAggregate::new(SPEC, documentation()),
    ))]
}

const SPEC: FitSpec<3> = FitSpec {
    name: "pareto_nbd_fit",
    inputs: ["x", "t_x", "T"],
    params: &NAMES,
    row: history_row,
    fit,
};

fn documentation() -> Documentation {
    static DOC: OnceLock<Documentation> = OnceLock::new();
    DOC.get_or_init(|| {
        crate::docs::builder(
            "Maximum-likelihood Pareto/NBD parameters of the group (crm-reference §4.2), as a \
             struct {r, alpha, s, beta, log_likelihood}. Input is one row per customer from \
             btyd_summary. When every customer drops out at about the same rate (the \
             exponential-dropout limit, s growing without bound at a fixed s/beta), s is \
             reported as 1e6 and beta as 1e6 divided by the mean dropout rate s/beta. Rows \
             with a NULL are skipped; NULL for an empty group; an error when the data cannot \
             identify the model.",
            "pareto_nbd_fit(x, t_x, T)",
        )
        .with_argument("x", "repeat transactions in the calibration period")
        .with_argument("t_x", "time of the last transaction since the first")
        .with_argument(
            "T",
            "time from the first transaction to the end of calibration",
        )
        .with_sql_example(
            "SELECT pareto_nbd_fit(x, t_x, \"T\")['s']\n\
             FROM btyd_summary('orders', DATE '2026-01-01');",
        )
        .build()
    })
    .clone()
}
