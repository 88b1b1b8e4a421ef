//! What a token may do: `ingest`, `query`, `admin` (which implies the other two), and
//! what each route needs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One permission a token can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every write path, and the calls shippers make when they start.
    Ingest,
    /// Every read.
    Query,
    /// Dashboard writes, tokens, operator actions; implies `ingest` and `query`.
    Admin,
}

impl Scope {
    /// Every scope, in the order they are listed.
    pub const ALL: [Scope; 3] = [Scope::Ingest, Scope::Query, Scope::Admin];

    /// The scope's name as written in `--scope`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Query => "query",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The scopes a token holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// Every scope (what `admin` grants).
    pub const ALL: Scopes = Scopes(0b111);

    /// Parses `ingest,query` (comma-separated, any case, spaces ignored).
    pub fn parse(text: &str) -> Result<Scopes, String> {
        let mut s = Scopes::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = match part.to_ascii_lowercase().as_str() {
                "ingest" => Scope::Ingest,
                "query" => Scope::Query,
                "admin" => Scope::Admin,
                _ => {
                    return Err(format!(
                        "unknown scope {part:?}; scopes are ingest, query and admin \
                         (comma-separated)"
                    ))
                }
            };
            s = s.with(scope);
        }
        if s.0 == 0 {
            return Err("no scope given; pass --scope ingest, query or admin".into());
        }
        Ok(s)
    }

    /// These scopes and `scope`.
    pub fn with(self, scope: Scope) -> Scopes {
        Scopes(self.0 | scope.bit())
    }

    /// Whether a holder may do what `scope` guards (`admin` may do everything).
    pub fn allows(self, scope: Scope) -> bool {
        self.0 & (scope.bit() | Scope::Admin.bit()) != 0
    }

    /// The scopes held, as listed.
    pub fn list(self) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.0 & s.bit() != 0)
            .collect()
    }

    /// From a stored list.
    pub fn from_list(list: &[Scope]) -> Scopes {
        list.iter().fold(Scopes::default(), |s, x| s.with(*x))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.list().into_iter().map(Scope::name).collect();
        f.write_str(&names.join(","))
    }
}

/// What a route needs of the one asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: `/healthz`, the dashboard's files, the login calls.
    Open,
    /// Any valid token or session, whatever its scopes: the calls both shippers and
    /// query clients make first (`GET /es/`, `_cluster/health`).
    AnyToken,
    /// A token (or session) holding this scope.
    Needs(Scope),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_implies_the_others_and_parse_refuses_unknown_names() {
        let admin = Scopes::parse("Admin").unwrap();
        assert!(Scope::ALL.iter().all(|s| admin.allows(*s)));
        let ingest = Scopes::parse(" ingest ").unwrap();
        assert!(ingest.allows(Scope::Ingest));
        assert!(!ingest.allows(Scope::Query));
        assert!(!ingest.allows(Scope::Admin));
        assert_eq!(
            Scopes::parse("query,ingest").unwrap().to_string(),
            "ingest,query"
        );
        assert!(Scopes::parse("root").unwrap_err().contains("unknown scope"));
        assert!(Scopes::parse(",").is_err());
    }
}
