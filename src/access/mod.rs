//! Who may log in and what they may read: users with stored passwords, roles with grants and
//! row filters. Built once from the config; the server asks it at login, the engine at session
//! creation.
//!
//! Two built-in roles exist: `admin` (reads everything; runs DDL, refresh and reports) and
//! `analyst` (reads everything, changes nothing). `[[roles]]` adds more, or redefines these.
//! With no `[[users]]` at all (local trust), every session is `admin`, as a single-user tool.

pub use segmint_wire::credential;
pub mod grants;
pub mod row_filter;

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{AuthMethod, Config, RoleConfig, is_identifier};
use crate::error::{Result, SegmintError};
pub use credential::Credential;

/// A login the server knows.
#[derive(Debug, Clone)]
pub struct User {
    /// The user name.
    pub name: String,
    /// The stored password; `None` under trust.
    pub credential: Option<Credential>,
    /// The role's name.
    pub role: String,
}

/// What a role's sessions may read and do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The role name.
    pub name: String,
    /// Administrators read everything and change shared state (DDL, refresh, reports).
    pub admin: bool,
    /// Tables and views of `public` the role reads; `None` for all.
    pub datasets: Option<BTreeSet<String>>,
    /// Other schemas the role reads whole; `None` for all.
    pub schemas: Option<BTreeSet<String>>,
    /// The predicate applied to every table of `public` without its own entry.
    pub row_filter: Option<String>,
    /// Per-table predicates.
    pub row_filters: BTreeMap<String, String>,
}

/// Schemas every role reads: the catalogs clients and BI tools introspect.
pub const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema"];

impl Role {
    /// The built-in administrator role.
    pub fn admin() -> Role {
        Role {
            name: "admin".to_string(),
            admin: true,
            datasets: None,
            schemas: None,
            row_filter: None,
            row_filters: BTreeMap::new(),
        }
    }

    /// The built-in read-everything role.
    pub fn analyst() -> Role {
        Role {
            name: "analyst".to_string(),
            admin: false,
            ..Role::admin()
        }
    }

    fn from_config(config: &RoleConfig) -> Result<Role> {
        let invalid = |message: String| {
            SegmintError::ConfigInvalid(format!("role '{}': {message}", config.name))
        };
        if !is_identifier(&config.name) {
            return Err(invalid(
                "the name must be a lowercase SQL identifier".to_string(),
            ));
        }
        let names = |list: &[String]| -> Option<BTreeSet<String>> {
            (!list.iter().any(|n| n == "*")).then(|| list.iter().cloned().collect())
        };
        for filter in config.row_filter.iter().chain(config.row_filters.values()) {
            if filter.contains(';') || filter.trim().is_empty() {
                return Err(invalid(format!(
                    "row filter '{filter}' must be one SQL predicate"
                )));
            }
        }
        Ok(Role {
            name: config.name.clone(),
            admin: config.admin,
            datasets: names(&config.datasets),
            schemas: names(&config.schemas),
            row_filter: config.row_filter.clone(),
            row_filters: config.row_filters.clone(),
        })
    }

    /// Whether sessions of this role see every table unfiltered.
    pub fn is_unrestricted(&self) -> bool {
        self.admin
            || (self.datasets.is_none()
                && self.schemas.is_none()
                && self.row_filter.is_none()
                && self.row_filters.is_empty())
    }

    /// Whether the role reads table `table` of `public`.
    pub fn reads_dataset(&self, table: &str) -> bool {
        self.admin || self.datasets.as_ref().is_none_or(|d| d.contains(table))
    }

    /// Whether the role reads schema `schema` (other than `public`).
    pub fn reads_schema(&self, schema: &str) -> bool {
        self.admin
            || SYSTEM_SCHEMAS.contains(&schema)
            || self.schemas.as_ref().is_none_or(|s| s.contains(schema))
    }

    /// The predicate for `table`, if any: its own entry, else the role-wide one. `"true"`
    /// reads the table whole.
    pub fn filter_for(&self, table: &str) -> Option<&str> {
        if self.admin {
            return None;
        }
        self.row_filters
            .get(table)
            .or(self.row_filter.as_ref())
            .map(String::as_str)
            .filter(|f| !f.trim().eq_ignore_ascii_case("true"))
    }

    /// Whether `table`'s predicate is the role-wide one (which a table may not fit).
    pub fn uses_role_wide_filter(&self, table: &str) -> bool {
        !self.row_filters.contains_key(table) && self.row_filter.is_some()
    }
}

/// Users and roles, resolved and checked.
#[derive(Debug, Clone)]
pub struct Access {
    method: AuthMethod,
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, Role>,
}

impl Access {
    /// Reads `[[users]]` and `[[roles]]`; every user's password and role must be valid.
    pub fn from_config(config: &Config) -> Result<Access> {
        let mut roles: BTreeMap<String, Role> = [Role::admin(), Role::analyst()]
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        let mut defined = BTreeSet::new();
        for role in &config.roles {
            if !defined.insert(role.name.as_str()) {
                return Err(SegmintError::ConfigInvalid(format!(
                    "role '{}' is defined twice",
                    role.name
                )));
            }
            roles.insert(role.name.clone(), Role::from_config(role)?);
        }
        let method = config.auth_method();
        let mut users = BTreeMap::new();
        for user in &config.users {
            let invalid = |message: String| SegmintError::ConfigInvalid(message);
            if user.name.is_empty() || user.name.chars().any(|c| c.is_control()) {
                return Err(invalid(format!("user name '{}' is not valid", user.name)));
            }
            if !roles.contains_key(&user.role) {
                return Err(invalid(format!(
                    "user '{}' has role '{}', which is not defined (built in: admin, analyst)",
                    user.name, user.role
                )));
            }
            let credential = match &user.password {
                Some(text) => Some(Credential::parse(&user.name, text).map_err(invalid)?),
                None if method == AuthMethod::Trust => None,
                None => {
                    return Err(invalid(format!(
                        "user '{}' has no password; make one with `segmint passwd {}`",
                        user.name, user.name
                    )));
                }
            };
            if users
                .insert(
                    user.name.clone(),
                    User {
                        name: user.name.clone(),
                        credential,
                        role: user.role.clone(),
                    },
                )
                .is_some()
            {
                return Err(invalid(format!("user '{}' is defined twice", user.name)));
            }
        }
        Ok(Access {
            method,
            users,
            roles,
        })
    }

    /// Everyone is an administrator: the local single-user setup (no `[[users]]`, trust).
    pub fn open() -> Access {
        Access {
            method: AuthMethod::Trust,
            users: BTreeMap::new(),
            roles: BTreeMap::from([("admin".to_string(), Role::admin())]),
        }
    }

    /// How clients log in.
    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// The user named `name`, if configured.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Whether any users are configured (otherwise trust lets everyone in as admin).
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// The role of a user who logged in; `None` if the user is not known.
    pub fn role_of(&self, user: &str) -> Option<Role> {
        if !self.has_users() {
            return Some(Role::admin());
        }
        let user = self.users.get(user)?;
        self.roles.get(&user.role).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(toml: &str) -> Result<Access> {
        Access::from_config(&Config::from_toml(toml)?)
    }

    #[test]
    fn users_need_hashed_passwords_and_known_roles() {
        let verifier = Credential::new_scram("pw").to_config_string();
        let ok = access(&format!(
            "[[users]]\nname = \"ann\"\npassword = \"{verifier}\"\nrole = \"east\"\n\
             [[roles]]\nname = \"east\"\ndatasets = [\"customers\"]\nrow_filter = \"region = 'east'\"\n"
        ))
        .expect("valid");
        assert_eq!(ok.method(), AuthMethod::ScramSha256);
        let role = ok.role_of("ann").expect("ann's role");
        assert!(role.reads_dataset("customers") && !role.reads_dataset("orders"));
        assert_eq!(role.filter_for("customers"), Some("region = 'east'"));
        assert!(ok.role_of("nobody").is_none());

        let plain = access("[[users]]\nname = \"ann\"\npassword = \"secret\"\n");
        assert!(plain.is_err());
        let unknown_role = access(&format!(
            "[[users]]\nname = \"ann\"\npassword = \"{verifier}\"\nrole = \"boss\"\n"
        ));
        assert!(unknown_role.is_err());
    }

    #[test]
    fn trust_is_refused_off_loopback_unless_explicit() {
        assert!(Config::from_toml("[server]\nlisten = \"0.0.0.0:5433\"\n").is_err());
        assert!(
            Config::from_toml("[server]\nlisten = \"0.0.0.0:5433\"\nauth = \"trust\"\n").is_ok()
        );
        assert!(Config::from_toml("[server]\nlisten = \"127.0.0.1:5433\"\n").is_ok());
        assert!(Config::from_toml("[server]\nauth = \"scram-sha-256\"\n").is_err());
    }

    #[test]
    fn without_users_everyone_is_admin() {
        let open = access("").expect("empty config");
        assert!(open.role_of("anyone").expect("a role").admin);
    }

    #[test]
    fn per_table_filters_override_and_true_reads_whole() {
        let role = Role::from_config(&RoleConfig {
            name: "r".into(),
            admin: false,
            datasets: vec!["*".into()],
            schemas: vec![],
            row_filter: Some("region = 'east'".into()),
            row_filters: BTreeMap::from([("products".into(), "true".into())]),
        })
        .expect("valid role");
        assert_eq!(role.filter_for("products"), None);
        assert_eq!(role.filter_for("customers"), Some("region = 'east'"));
        assert!(role.reads_dataset("anything"));
        assert!(!role.reads_schema("reports"));
        assert!(role.reads_schema("pg_catalog"));
    }
}
