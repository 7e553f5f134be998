//! The one permission check of a statement before it runs. What a role may *read* is
//! enforced inside its DataFusion context (grants and row filters, `crate::access`); what it
//! may *do* is decided here: running reports, changing the catalog, and engine settings that
//! would widen what a session reads or holds are for administrators.

use datafusion::logical_expr::{LogicalPlan, Statement as DfStatement};
use pgwire::error::PgWireResult;

use super::prepared::Prepared;
use super::sqlstate::{INSUFFICIENT_PRIVILEGE, user_error};
use crate::access::Role;

/// Whether `role` may run `prepared`: `Ok` or 42501 with what it may not do.
pub fn authorize(role: &Role, prepared: &Prepared) -> PgWireResult<()> {
    if role.admin {
        return Ok(());
    }
    let refused = match prepared {
        Prepared::RunReport(_) => {
            "may not run reports (reports are for administrators)".to_string()
        }
        Prepared::Catalog(_) => {
            "may not change the catalog (DDL and REFRESH are for administrators)".to_string()
        }
        Prepared::Query(planned) => match widening_setting(&planned.plan) {
            Some(name) => {
                return Err(user_error(
                    INSUFFICIENT_PRIVILEGE,
                    format!("permission denied to set parameter \"{name}\""),
                ));
            }
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    Err(user_error(
        INSUFFICIENT_PRIVILEGE,
        format!("permission denied: role {} {refused}", role.name),
    ))
}

/// The engine setting `plan` sets when it would widen what a session reads or holds:
/// `datafusion.catalog.*` changes how names resolve, `datafusion.runtime.*` the memory
/// limits.
fn widening_setting(plan: &LogicalPlan) -> Option<&str> {
    let LogicalPlan::Statement(DfStatement::SetVariable(set)) = plan else {
        return None;
    };
    let name = set.variable.to_ascii_lowercase();
    (name.starts_with("datafusion.catalog.") || name.starts_with("datafusion.runtime."))
        .then_some(set.variable.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::ddl::CatalogChange;
    use crate::server::prepared::Planned;
    use crate::server::run_report::RunReport;
    use datafusion::prelude::SessionContext;
    use pgwire::error::PgWireError;

    fn analyst() -> Role {
        Role {
            admin: false,
            name: "analyst".into(),
            ..Role::admin()
        }
    }

    async fn query(sql: &str) -> Prepared {
        let plan = SessionContext::new()
            .state()
            .create_logical_plan(sql)
            .await
            .expect("plans");
        Prepared::Query(Box::new(Planned {
            plan,
            columns: None,
        }))
    }

    fn code(result: PgWireResult<()>) -> String {
        match result {
            Err(PgWireError::UserError(info)) => info.code.clone(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn administrators_may_do_everything() {
        let admin = Role::admin();
        let report = Prepared::RunReport(RunReport {
            name: "r".into(),
            as_of: None,
        });
        assert!(authorize(&admin, &report).is_ok());
        let set = query("SET datafusion.runtime.memory_limit = '1G'").await;
        assert!(authorize(&admin, &set).is_ok());
    }

    #[tokio::test]
    async fn other_roles_read_but_do_not_change_shared_state() {
        let analyst = analyst();
        let report = Prepared::RunReport(RunReport {
            name: "r".into(),
            as_of: None,
        });
        assert_eq!(code(authorize(&analyst, &report)), INSUFFICIENT_PRIVILEGE);
        let refresh = Prepared::Catalog(Box::new(CatalogChange::Refresh(None)));
        assert_eq!(code(authorize(&analyst, &refresh)), INSUFFICIENT_PRIVILEGE);
        for setting in [
            "SET datafusion.catalog.default_schema = 'reports'",
            "SET datafusion.runtime.memory_limit = '1G'",
        ] {
            assert_eq!(
                code(authorize(&analyst, &query(setting).await)),
                INSUFFICIENT_PRIVILEGE,
                "{setting}"
            );
        }
        assert!(
            authorize(
                &analyst,
                &query("SET datafusion.execution.batch_size = 100").await
            )
            .is_ok()
        );
        assert!(authorize(&analyst, &query("SELECT 1").await).is_ok());
    }
}
