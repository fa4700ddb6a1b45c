//! The vocabulary every other module speaks: check identifiers and their
//! default actions, what a violation is, and how values are quoted in messages.
//!
//! A leaf module: it depends on nothing else in the crate, so that settings,
//! look-ups, checks and the verdict can all name checks without depending on
//! one another.

use serde::Deserialize;
use std::fmt;

/// What happens when a check finds a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Refuse the request.
    Deny,
    /// Accept the request and return the violation as a warning.
    Warn,
    /// Do not run the check.
    Off,
}

macro_rules! check_ids {
    ($($variant:ident = $id:literal => $default:ident,)+) => {
        /// Stable identifier of a check, used in messages and in `enforcement`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
        pub enum CheckId {
            $(#[serde(rename = $id)] $variant,)+
        }

        impl CheckId {
            /// Every check, in the order they are documented.
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant,)+];

            /// The identifier as written in settings and messages.
            pub const fn as_str(self) -> &'static str {
                match self { $(CheckId::$variant => $id,)+ }
            }

            /// The action when `enforcement` does not name the check.
            pub const fn default_action(self) -> Action {
                match self { $(CheckId::$variant => Action::$default,)+ }
            }
        }
    };
}

check_ids! {
    ServiceNameRequired = "service-name-required" => Warn,
    ServiceNameValid = "service-name-valid" => Deny,
    ServiceExists = "service-exists" => Warn,
    ServiceHeadless = "service-headless" => Warn,
    ServiceSelectsPods = "service-selects-pods" => Warn,
    StorageClassRequired = "storage-class-required" => Deny,
    StorageClassAllowed = "storage-class-allowed" => Deny,
    StorageClassExists = "storage-class-exists" => Deny,
    StorageClassExpandable = "storage-class-expandable" => Deny,
    AccessModesAllowed = "access-modes-allowed" => Deny,
    StorageSize = "storage-size" => Deny,
    VolumeModeAllowed = "volume-mode-allowed" => Deny,
    PvcRetention = "pvc-retention" => Deny,
    PodManagementPolicyAllowed = "pod-management-policy-allowed" => Deny,
    UpdateStrategyAllowed = "update-strategy-allowed" => Deny,
    PartitionWithinReplicas = "partition-within-replicas" => Warn,
    VolumeMountsResolve = "volume-mounts-resolve" => Deny,
    ClaimsMounted = "claims-mounted" => Warn,
    PodsSpread = "pods-spread" => Warn,
    PdbCoversPods = "pdb-covers-pods" => Warn,
    PdbAllowsDisruption = "pdb-allows-disruption" => Warn,
    ServiceInUse = "service-in-use" => Warn,
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule broken by one field of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub check: CheckId,
    /// Where, e.g. `spec.volumeClaimTemplates[1] (wal).spec.storageClassName`.
    pub field: String,
    /// The offending value as shown to the user (quoted string, number, or `absent`).
    pub found: String,
    /// What the rule allows or requires.
    pub rule: String,
    /// True when the violation is that a look-up failed, so that the check could
    /// not run: its action then follows `lookupFailure`, not `enforcement`.
    pub lookup_failed: bool,
    /// What the finding rests on beyond `found`, e.g. the pod labels a Service
    /// lacks, or the labels a failed Service look-up left unchecked. Never
    /// shown; compared on UPDATE, so that a fault counts as the old object's
    /// only when nothing the check read has changed.
    pub inputs: String,
}

impl Violation {
    pub fn new(
        check: CheckId,
        field: impl Into<String>,
        found: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        Violation {
            check,
            field: field.into(),
            found: found.into(),
            rule: rule.into(),
            lookup_failed: false,
            inputs: String::new(),
        }
    }

    /// A look-up that failed, standing in for `check` (see `lookup_failed`).
    pub fn lookup_failure(
        check: CheckId,
        field: impl Into<String>,
        found: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        Violation {
            lookup_failed: true,
            ..Violation::new(check, field, found, rule)
        }
    }

    /// The same violation resting on `inputs` (see the field).
    pub fn with_inputs(self, inputs: impl Into<String>) -> Self {
        Violation {
            inputs: inputs.into(),
            ..self
        }
    }

    /// Whether `other` reports the same fault: same check, same field, same
    /// value, on the same inputs. Used on UPDATE to recognise what the old
    /// object already had.
    pub fn same_fault(&self, other: &Violation) -> bool {
        self.check == other.check
            && self.field == other.field
            && self.found == other.found
            && self.inputs == other.inputs
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {} is {}: {}",
            self.check, self.field, self.found, self.rule
        )
    }
}

/// Renders a list of allowed names for a rule, e.g. `"standard", "gp3"`.
pub fn quoted_list<T: AsRef<str>>(items: &[T]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&quote(item.as_ref()));
    }
    out
}

/// Shows a user-provided string as a JSON string literal, so that `""`,
/// spaces and control characters stay visible in messages.
pub fn quote(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""))
}

/// One kind of admission request a check judges: what a policy's `rules`
/// must route to the policy for the check to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Trigger {
    pub api_group: &'static str,
    pub api_version: &'static str,
    /// Lower-case plural, as in a rule's `resources`.
    pub resource: &'static str,
    /// `None`: the resource itself, not a subresource.
    pub subresource: Option<&'static str>,
    pub operation: &'static str,
}

const STATEFULSET_WRITES: &[Trigger] = &[
    Trigger {
        api_group: "apps",
        api_version: "v1",
        resource: "statefulsets",
        subresource: None,
        operation: "CREATE",
    },
    Trigger {
        api_group: "apps",
        api_version: "v1",
        resource: "statefulsets",
        subresource: None,
        operation: "UPDATE",
    },
];

const SERVICE_DELETE: &[Trigger] = &[Trigger {
    api_group: "",
    api_version: "v1",
    resource: "services",
    subresource: None,
    operation: "DELETE",
}];

impl CheckId {
    /// The requests this check judges: the one home from which the
    /// metadata's `rules` are derived (`tests/metadata_rules.rs`), since
    /// `kwctl scaffold manifest` copies those rules into the policy and a
    /// request they do not route never reaches it. No wildcard arm: a new
    /// check must say what it judges.
    pub const fn triggers(self) -> &'static [Trigger] {
        match self {
            CheckId::ServiceInUse => SERVICE_DELETE,
            CheckId::ServiceNameRequired
            | CheckId::ServiceNameValid
            | CheckId::ServiceExists
            | CheckId::ServiceHeadless
            | CheckId::ServiceSelectsPods
            | CheckId::StorageClassRequired
            | CheckId::StorageClassAllowed
            | CheckId::StorageClassExists
            | CheckId::StorageClassExpandable
            | CheckId::AccessModesAllowed
            | CheckId::StorageSize
            | CheckId::VolumeModeAllowed
            | CheckId::PvcRetention
            | CheckId::PodManagementPolicyAllowed
            | CheckId::UpdateStrategyAllowed
            | CheckId::PartitionWithinReplicas
            | CheckId::VolumeMountsResolve
            | CheckId::ClaimsMounted
            | CheckId::PodsSpread
            | CheckId::PdbCoversPods
            | CheckId::PdbAllowsDisruption => STATEFULSET_WRITES,
        }
    }
}
