//! Which scopes a request needs: a baseline for every request, per-route requirements, and
//! per-MCP-operation requirements read from the JSON-RPC body; plus scope hierarchies
//! (spec §4, delta RS-R2-01/03, SCOPE-R2-04).

use std::collections::{BTreeMap, BTreeSet};

use http::Method;
use mcp_auth_core::{Scope, ScopeSet};

use crate::error::ConfigError;
pub use crate::rpc::{McpOperation, OperationError};

/// The MCP methods (client to server, revisions 2025-11-25 and 2026-07-28) whose dispatch does
/// not depend on a name: they need the baseline plus any [`ScopeRequirementsBuilder::method`] rule.
/// `tools/call`, `prompts/get` and `resources/read`/`subscribe`/`unsubscribe` are decided by
/// their name; every other method is an *other method* ([`OtherMethods`]).
pub const STANDARD_METHODS: [&str; 20] = [
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "prompts/list",
    "completion/complete",
    "logging/setLevel",
    "subscriptions/listen",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
    "tasks/update",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
    "notifications/tasks/status",
];

/// What a JSON-RPC method that the policy does not know needs: one that is neither in
/// [`STANDARD_METHODS`], nor decided by a name (`tools/call`, `prompts/get`,
/// `resources/read`/`subscribe`/`unsubscribe`), nor named by a [`ScopeRequirementsBuilder::method`]
/// rule. Such a method might be dispatched on something the layer does not read, so the
/// baseline alone is never assumed unless chosen here (issue #8 item 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OtherMethods {
    /// Refuse the request with `400 invalid_request` ([`OperationError::UnknownMethod`]). The
    /// default.
    #[default]
    Refuse,
    /// Require every scope any rule of the policy names (baseline, routes, methods, tools,
    /// resources, prompts): a fully privileged token may call extension methods.
    RequireAllScopes,
    /// Require only the baseline (and route) scopes. Choose it only for an MCP server that
    /// answers methods it does not implement with "method not found" and never dispatches a
    /// custom method on a tool, prompt or resource name.
    BaselineOnly,
}

/// Scope requirements and hierarchy: which scopes each request to the MCP server needs. Build
/// with [`ScopeRequirements::builder`]. (The authorization server's counterpart,
/// `mcp_auth_core::ext::ScopePolicy`, decides which scopes to *grant*; this type decides which
/// scopes a request *needs*.)
///
/// The default policy requires nothing and refuses other methods ([`OtherMethods::Refuse`]).
#[derive(Debug, Clone, Default)]
pub struct ScopeRequirements {
    other_methods: OtherMethods,
    /// Every scope a rule names (not the hierarchy): what [`OtherMethods::RequireAllScopes`]
    /// requires.
    all_rules: ScopeSet,
    baseline: ScopeSet,
    routes: Vec<(Option<Method>, String, ScopeSet)>,
    methods: BTreeMap<String, ScopeSet>,
    tools: BTreeMap<String, ScopeSet>,
    resources: BTreeMap<String, ScopeSet>,
    prompts: BTreeMap<String, ScopeSet>,
    /// scope → every scope it implies (transitively, excluding itself).
    implies: BTreeMap<Scope, ScopeSet>,
    known: ScopeSet,
}

/// Scope names refused in configuration: AS-only or wildcard scopes (SCOPE-05, SCOPE-09).
const REFUSED: [&str; 3] = ["offline_access", "*", "all"];

impl ScopeRequirements {
    /// A builder with no requirements.
    pub fn builder() -> ScopeRequirementsBuilder {
        ScopeRequirementsBuilder::default()
    }

    /// The baseline scopes: required for every request, published as PRM `scopes_supported`.
    pub fn baseline(&self) -> &ScopeSet {
        &self.baseline
    }

    /// Every scope the policy mentions (the "known scopes" of spec §4.3).
    pub fn known(&self) -> &ScopeSet {
        &self.known
    }

    /// How methods the policy does not know are treated.
    pub fn other_methods(&self) -> OtherMethods {
        self.other_methods
    }

    /// The scopes a request needs: baseline ∪ the longest matching route prefix ∪ each
    /// operation's scopes (the method's, then the tool's, resource's or prompt's).
    ///
    /// # Errors
    /// [`OperationError::UnknownMethod`] for a method the policy does not know when it refuses
    /// other methods ([`OtherMethods::Refuse`]).
    pub fn requirement(
        &self,
        method: &Method,
        path: &str,
        operations: &[McpOperation],
    ) -> Result<ScopeSet, OperationError> {
        let mut required = self.baseline.clone();
        if let Some((_, _, s)) = self
            .routes
            .iter()
            .filter(|(m, prefix, _)| {
                m.as_ref().is_none_or(|m| m == method) && path_matches(path, prefix)
            })
            .max_by_key(|(_, prefix, _)| prefix.len())
        {
            required = required.union(s);
        }
        for op in operations {
            let (method_name, specific) = match op {
                McpOperation::CallTool(n) => ("tools/call", self.tools.get(n)),
                McpOperation::ReadResource(u) => ("resources/read", self.resources.get(u)),
                McpOperation::GetPrompt(n) => ("prompts/get", self.prompts.get(n)),
                McpOperation::Method(m) => (m.as_str(), None),
            };
            if let Some(s) = self.methods.get(method_name) {
                required = required.union(s);
            } else if matches!(op, McpOperation::Method(_))
                && !STANDARD_METHODS.contains(&method_name)
            {
                match self.other_methods {
                    OtherMethods::Refuse => return Err(OperationError::UnknownMethod),
                    OtherMethods::RequireAllScopes => required = required.union(&self.all_rules),
                    OtherMethods::BaselineOnly => {}
                }
            }
            if let Some(s) = specific {
                required = required.union(s);
            }
        }
        Ok(required)
    }

    /// As [`Self::requirement`], failing closed: a refused method requires every scope any rule
    /// names.
    pub fn required(&self, method: &Method, path: &str, operations: &[McpOperation]) -> ScopeSet {
        self.requirement(method, path, operations)
            .unwrap_or_else(|_| self.baseline.union(&self.all_rules))
    }

    /// `granted` plus everything its scopes imply.
    pub fn effective(&self, granted: &ScopeSet) -> ScopeSet {
        let mut out = granted.clone();
        for s in granted.iter() {
            if let Some(implied) = self.implies.get(s) {
                out = out.union(implied);
            }
        }
        out
    }

    /// Check `granted` against `required`. On failure returns `(missing, challenge)`: the
    /// uncovered scopes, and the 403 `scope` value = (granted ∩ known) ∪ missing (spec §4.3,
    /// SCOPE-R2-03), with scopes implied by others in the set left out (RS-R2-03).
    pub fn check(
        &self,
        granted: &ScopeSet,
        required: &ScopeSet,
    ) -> Result<(), (ScopeSet, ScopeSet)> {
        let effective = self.effective(granted);
        let missing = required.difference(&effective);
        if missing.is_empty() {
            return Ok(());
        }
        let challenge = self.minimal(&granted.intersection(&self.known).union(&missing));
        Err((missing, challenge))
    }

    /// `set` without scopes implied by another member (one of two mutually implying scopes stays).
    pub fn minimal(&self, set: &ScopeSet) -> ScopeSet {
        set.iter()
            .filter(|x| {
                !set.iter().any(|y| {
                    y != *x
                        && self.implies.get(y).is_some_and(|i| i.contains(x.as_str()))
                        && !self.implies.get(*x).is_some_and(|i| i.contains(y.as_str()))
                })
            })
            .cloned()
            .collect()
    }
}

fn path_matches(path: &str, prefix: &str) -> bool {
    path == prefix
        || (path.starts_with(prefix)
            && (prefix.ends_with('/') || path[prefix.len()..].starts_with('/')))
}

/// Builder of a [`ScopeRequirements`]. Scope arguments are space-separated scope strings
/// (RFC 6749 §3.3); they are parsed in [`ScopeRequirementsBuilder::build`].
#[derive(Debug, Default)]
pub struct ScopeRequirementsBuilder {
    other_methods: OtherMethods,
    baseline: String,
    routes: Vec<(Option<Method>, String, String)>,
    methods: Vec<(String, String)>,
    tools: Vec<(String, String)>,
    resources: Vec<(String, String)>,
    prompts: Vec<(String, String)>,
    implies: Vec<(String, String)>,
}

impl ScopeRequirementsBuilder {
    /// Scopes every request needs (published as PRM `scopes_supported`).
    pub fn baseline(mut self, scopes: &str) -> Self {
        self.baseline = scopes.to_owned();
        self
    }

    /// Requests whose path is `prefix` or below it (segment-wise), with `method` (any when
    /// `None`), need `scopes`. The longest matching prefix wins.
    pub fn route(mut self, method: Option<Method>, prefix: &str, scopes: &str) -> Self {
        self.routes
            .push((method, prefix.to_owned(), scopes.to_owned()));
        self
    }

    /// The JSON-RPC method `method` (e.g. `tools/list`) needs `scopes`.
    pub fn method(mut self, method: &str, scopes: &str) -> Self {
        self.methods.push((method.to_owned(), scopes.to_owned()));
        self
    }

    /// `tools/call` of `tool` needs `scopes`.
    pub fn tool(mut self, tool: &str, scopes: &str) -> Self {
        self.tools.push((tool.to_owned(), scopes.to_owned()));
        self
    }

    /// `resources/read` of `uri` needs `scopes`.
    pub fn resource(mut self, uri: &str, scopes: &str) -> Self {
        self.resources.push((uri.to_owned(), scopes.to_owned()));
        self
    }

    /// `prompts/get` of `prompt` needs `scopes`.
    pub fn prompt(mut self, prompt: &str, scopes: &str) -> Self {
        self.prompts.push((prompt.to_owned(), scopes.to_owned()));
        self
    }

    /// How JSON-RPC methods the policy does not know are treated (default
    /// [`OtherMethods::Refuse`]): a method is known when it is in [`STANDARD_METHODS`], is
    /// decided by a name (`tools/call`, `prompts/get`, `resources/read`/`subscribe`/
    /// `unsubscribe`), or has a [`Self::method`] rule.
    pub fn other_methods(mut self, rule: OtherMethods) -> Self {
        self.other_methods = rule;
        self
    }

    /// Holding `scope` satisfies every scope in `implied` (e.g. `repo:write` ⊇ `repo:read`).
    /// Applied transitively.
    pub fn implies(mut self, scope: &str, implied: &str) -> Self {
        self.implies.push((scope.to_owned(), implied.to_owned()));
        self
    }

    /// Parse and check the policy.
    ///
    /// # Errors
    /// [`ConfigError::Scope`] for a malformed scope string, or for `offline_access`, `*` or
    /// `all` anywhere (spec SCOPE-05, SCOPE-09).
    pub fn build(self) -> Result<ScopeRequirements, ConfigError> {
        let mut known = ScopeSet::new();
        let mut parse = |s: &str| -> Result<ScopeSet, ConfigError> {
            let set = if s.is_empty() {
                ScopeSet::new()
            } else {
                s.parse::<ScopeSet>()
                    .map_err(|e| ConfigError::Scope(format!("{s:?}: {e}")))?
            };
            if let Some(bad) = REFUSED.iter().find(|r| set.contains(r)) {
                return Err(ConfigError::Scope(format!(
                    "{bad} may not be required by a resource server"
                )));
            }
            known = known.union(&set);
            Ok(set)
        };
        let baseline = parse(&self.baseline)?;
        let mut routes = Vec::new();
        for (m, p, s) in self.routes {
            routes.push((m, p, parse(&s)?));
        }
        let mut map =
            |v: Vec<(String, String)>| -> Result<BTreeMap<String, ScopeSet>, ConfigError> {
                let mut out: BTreeMap<String, ScopeSet> = BTreeMap::new();
                for (k, s) in v {
                    let set = parse(&s)?;
                    let entry = out.entry(k).or_default();
                    *entry = entry.union(&set);
                }
                Ok(out)
            };
        let methods = map(self.methods)?;
        let tools = map(self.tools)?;
        let resources = map(self.resources)?;
        let prompts = map(self.prompts)?;
        let direct = map(self.implies)?;
        let mut all_rules = baseline.clone();
        for set in routes.iter().map(|(_, _, s)| s).chain(
            [&methods, &tools, &resources, &prompts]
                .into_iter()
                .flat_map(|m| m.values()),
        ) {
            all_rules = all_rules.union(set);
        }
        let mut direct_scopes: BTreeMap<Scope, BTreeSet<Scope>> = BTreeMap::new();
        for (k, v) in direct {
            let k: Scope = k
                .parse()
                .map_err(|e| ConfigError::Scope(format!("{k:?}: {e}")))?;
            known.insert(k.clone());
            direct_scopes
                .entry(k)
                .or_default()
                .extend(v.iter().cloned());
        }
        let implies = transitive_closure(&direct_scopes);
        Ok(ScopeRequirements {
            other_methods: self.other_methods,
            all_rules,
            baseline,
            routes,
            methods,
            tools,
            resources,
            prompts,
            implies,
            known,
        })
    }
}

/// The scopes each scope of `direct` implies, directly or through others: the transitive
/// closure, by repeated expansion (the table is small). A scope never implies itself.
fn transitive_closure(direct: &BTreeMap<Scope, BTreeSet<Scope>>) -> BTreeMap<Scope, ScopeSet> {
    let mut implies: BTreeMap<Scope, ScopeSet> = BTreeMap::new();
    for start in direct.keys() {
        let mut seen: BTreeSet<Scope> = BTreeSet::new();
        let mut stack: Vec<Scope> = direct[start].iter().cloned().collect();
        while let Some(s) = stack.pop() {
            if seen.insert(s.clone())
                && let Some(next) = direct.get(&s)
            {
                stack.extend(next.iter().cloned());
            }
        }
        seen.remove(start);
        implies.insert(start.clone(), seen.into_iter().collect());
    }
    implies
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        if s.is_empty() {
            ScopeSet::new()
        } else {
            s.parse().unwrap()
        }
    }

    fn other_method_policy(rule: Option<OtherMethods>) -> ScopeRequirements {
        let mut b = ScopeRequirements::builder()
            .baseline("b")
            .tool("delete", "files:write")
            .prompt("p", "prompts:read")
            .method("vendor/configured", "vendor");
        if let Some(rule) = rule {
            b = b.other_methods(rule);
        }
        b.build().unwrap()
    }

    fn call(p: &ScopeRequirements, method: &str) -> Result<ScopeSet, OperationError> {
        p.requirement(
            &Method::POST,
            "/mcp",
            &[McpOperation::Method(method.to_owned())],
        )
    }

    /// Issue #8 item 1: a method the policy does not know is refused by default.
    #[test]
    fn other_methods_are_refused_by_default() {
        let p = other_method_policy(None);
        assert_eq!(p.other_methods(), OtherMethods::Refuse);
        assert_eq!(
            call(&p, "vendor/unknown"),
            Err(OperationError::UnknownMethod)
        );
        assert_eq!(
            p.required(
                &Method::POST,
                "/mcp",
                &[McpOperation::Method("vendor/unknown".into())]
            ),
            set("b files:write prompts:read vendor"),
            "the infallible form fails closed"
        );
    }

    /// Issue #8 item 1: standard and configured methods are known.
    #[test]
    fn standard_and_configured_methods_are_known() {
        let p = other_method_policy(None);
        assert_eq!(call(&p, "tools/list"), Ok(set("b")));
        assert_eq!(call(&p, "initialize"), Ok(set("b")));
        assert_eq!(call(&p, "vendor/configured"), Ok(set("b vendor")));
    }

    /// Issue #8 item 1: `RequireAllScopes` requires every scope a rule names.
    #[test]
    fn other_methods_may_require_every_rule_scope() {
        let p = other_method_policy(Some(OtherMethods::RequireAllScopes));
        assert_eq!(
            call(&p, "vendor/unknown"),
            Ok(set("b files:write prompts:read vendor"))
        );
    }

    /// Issue #8 item 1: `BaselineOnly` is an explicit choice.
    #[test]
    fn other_methods_may_need_only_the_baseline_when_chosen() {
        let p = other_method_policy(Some(OtherMethods::BaselineOnly));
        assert_eq!(call(&p, "vendor/unknown"), Ok(set("b")));
    }

    #[test]
    fn hierarchy_is_transitive() {
        let p = ScopeRequirements::builder()
            .implies("admin", "write")
            .implies("write", "read")
            .build()
            .unwrap();
        assert_eq!(p.effective(&set("admin")), set("admin read write"));
    }

    #[test]
    fn offline_access_is_refused_in_configuration() {
        let err = ScopeRequirements::builder()
            .baseline("mcp:basic offline_access")
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "scope configuration: offline_access may not be required by a resource server"
        );
    }

    #[test]
    fn longest_route_prefix_wins() {
        let p = ScopeRequirements::builder()
            .baseline("b")
            .route(None, "/admin", "admin")
            .route(Some(Method::DELETE), "/admin/users", "users:delete")
            .build()
            .unwrap();
        assert_eq!(p.required(&Method::GET, "/admin/x", &[]), set("admin b"));
        assert_eq!(
            p.required(&Method::DELETE, "/admin/users/7", &[]),
            set("b users:delete")
        );
        assert_eq!(p.required(&Method::GET, "/administrator", &[]), set("b"));
    }
}
