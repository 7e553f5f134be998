//! SQL plumbing shared by the predictive-value functions (crm-reference §4): the numbers-in,
//! number-out scalar function behind the prediction functions ([`scalar`]), the accumulator
//! behind the `*_fit` aggregates ([`aggregate`]), and the plan that summarises transactions
//! into `x, t_x, T, m_x` ([`summary`]). The models themselves are in
//! [`kernels::btyd`](crate::kernels::btyd).

pub mod aggregate;
pub mod scalar;
pub mod summary;
