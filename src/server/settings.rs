//! `SET`, `SHOW` and `RESET` of PostgreSQL session variables: the variables change, the
//! ones that change query results (`TimeZone`) are mirrored into DataFusion's settings, and
//! the changes PostgreSQL reports with `ParameterStatus` are returned for the client.

use std::collections::HashMap;

use datafusion::prelude::SessionContext;
use pgwire::api::results::{Response, Tag};
use pgwire::error::{PgWireError, PgWireResult};

use super::execution::text_rows;
use super::sqlstate::{to_pg_error, user_error};
use super::statement::SessionCommand;
use super::variables::{ParameterChange, SessionError, SessionVariables};

/// Answers a variable command (`SET`, `SHOW [ALL]`, `RESET [ALL]`); `None` for any other
/// session command. `changes` collects what to report to the client, and `metadata` (which
/// pgwire's value formatting reads) is kept in step.
pub fn run(
    command: &SessionCommand,
    variables: &mut SessionVariables,
    ctx: &SessionContext,
    metadata: &mut HashMap<String, String>,
    changes: &mut Vec<ParameterChange>,
) -> Option<PgWireResult<Response>> {
    let response = match command {
        SessionCommand::Set { name, value } => set(name, value, variables, ctx, changes),
        SessionCommand::Reset(name) => {
            variables
                .reset(name)
                .map_err(session_error)
                .and_then(|change| {
                    if name.eq_ignore_ascii_case("timezone") {
                        apply_engine_setting(ctx, "TimeZone", "UTC")?;
                    }
                    changes.extend(change);
                    Ok(Response::Execution(Tag::new("RESET")))
                })
        }
        SessionCommand::ResetAll { tag } => {
            changes.extend(variables.reset_all());
            apply_engine_setting(ctx, "TimeZone", "UTC")
                .map(|()| Response::Execution(Tag::new(tag)))
        }
        SessionCommand::Show(name) => variables
            .get(name)
            .ok_or_else(|| session_error(SessionError::UnknownVariable(name.clone())))
            .and_then(|value| {
                text_rows(&[name.to_ascii_lowercase().as_str()], vec![vec![value]])
                    .map(Response::Query)
            }),
        SessionCommand::ShowAll => {
            let rows = variables
                .all()
                .into_iter()
                .map(|(name, value, description)| vec![name, value, description])
                .collect();
            text_rows(&["name", "setting", "description"], rows).map(Response::Query)
        }
        _ => return None,
    };
    for change in changes.iter() {
        metadata.insert(change.name.to_ascii_lowercase(), change.value.clone());
    }
    if let (SessionCommand::Set { name, value }, Ok(_)) = (command, &response) {
        metadata.insert(name.to_ascii_lowercase(), value.clone());
    }
    Some(response)
}

fn set(
    name: &str,
    value: &str,
    variables: &mut SessionVariables,
    ctx: &SessionContext,
    changes: &mut Vec<ParameterChange>,
) -> PgWireResult<Response> {
    let change = variables.set(name, value).map_err(session_error)?;
    apply_engine_setting(ctx, name, value)?;
    changes.extend(change);
    Ok(Response::Execution(Tag::new("SET")))
}

/// Sets a variable given at startup (`-c TimeZone=...`, `application_name`): like `SET`,
/// except that an unknown or invalid one is skipped, as the startup must not fail on it.
pub fn set_at_startup(
    name: &str,
    value: &str,
    variables: &mut SessionVariables,
    ctx: &SessionContext,
) -> PgWireResult<Option<ParameterChange>> {
    match variables.set(name, value) {
        Ok(Some(change)) => {
            apply_engine_setting(ctx, &change.name, &change.value)?;
            Ok(Some(change))
        }
        _ => Ok(None),
    }
}

fn session_error(error: SessionError) -> PgWireError {
    user_error(error.sqlstate(), error.to_string())
}

/// Mirrors PostgreSQL variables that change query results into DataFusion's settings.
fn apply_engine_setting(ctx: &SessionContext, name: &str, value: &str) -> PgWireResult<()> {
    if name.eq_ignore_ascii_case("timezone") {
        let zone = if value.eq_ignore_ascii_case("utc") {
            "+00:00"
        } else {
            value
        };
        let state = ctx.state_ref();
        let mut state = state.write();
        state
            .config_mut()
            .options_mut()
            .set("datafusion.execution.time_zone", zone)
            .map_err(to_pg_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine_zone(ctx: &SessionContext) -> Option<String> {
        ctx.state().config().options().execution.time_zone.clone()
    }

    #[test]
    fn set_time_zone_reaches_the_engine_and_the_client() {
        let ctx = SessionContext::new();
        let mut variables = SessionVariables::default();
        let mut metadata = HashMap::new();
        let mut changes = Vec::new();
        let set = SessionCommand::Set {
            name: "TimeZone".into(),
            value: "Asia/Shanghai".into(),
        };
        let response = run(&set, &mut variables, &ctx, &mut metadata, &mut changes);
        assert!(matches!(response, Some(Ok(Response::Execution(_)))));
        assert_eq!(engine_zone(&ctx).as_deref(), Some("Asia/Shanghai"));
        assert_eq!(
            changes,
            vec![ParameterChange {
                name: "TimeZone".into(),
                value: "Asia/Shanghai".into()
            }]
        );
        assert_eq!(
            metadata.get("timezone").map(String::as_str),
            Some("Asia/Shanghai")
        );
        changes.clear();
        let reset = SessionCommand::ResetAll { tag: "DISCARD ALL" };
        assert!(run(&reset, &mut variables, &ctx, &mut metadata, &mut changes).is_some());
        assert_eq!(engine_zone(&ctx).as_deref(), Some("+00:00"));
        assert_eq!(variables.get("TimeZone").as_deref(), Some("UTC"));
    }

    #[test]
    fn unknown_variables_and_other_commands() {
        let ctx = SessionContext::new();
        let mut variables = SessionVariables::default();
        let (mut metadata, mut changes) = (HashMap::new(), Vec::new());
        let show = SessionCommand::Show("no_such_thing".into());
        match run(&show, &mut variables, &ctx, &mut metadata, &mut changes) {
            Some(Err(PgWireError::UserError(info))) => assert_eq!(info.code, "42704"),
            other => panic!("{other:?}"),
        }
        let bad = SessionCommand::Set {
            name: "extra_float_digits".into(),
            value: "12".into(),
        };
        assert!(matches!(
            run(&bad, &mut variables, &ctx, &mut metadata, &mut changes),
            Some(Err(_))
        ));
        assert!(metadata.is_empty(), "a refused SET is not mirrored");
        assert!(
            run(
                &SessionCommand::Begin,
                &mut variables,
                &ctx,
                &mut metadata,
                &mut changes
            )
            .is_none()
        );
        assert_eq!(
            set_at_startup("no_such_thing", "1", &mut variables, &ctx).expect("skipped"),
            None
        );
    }
}
