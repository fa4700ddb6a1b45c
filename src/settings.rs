//! The policy's settings: the one home of every key, its default and the
//! rules that refuse a configuration before it can reach a cluster.
//!
//! Unknown keys are refused at every level: a typo must never silently
//! disable a check.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

use crate::json::{object, optional_object, Whole};
use crate::names::is_qualified_name;
use crate::quantity::Quantity;
use crate::violation::{quote, quoted_list, Action, CheckId};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    #[serde(deserialize_with = "object")]
    pub service_name: ServiceNameSettings,
    #[serde(deserialize_with = "object")]
    pub storage: StorageSettings,
    #[serde(deserialize_with = "object")]
    pub rollout: RolloutSettings,
    #[serde(deserialize_with = "object")]
    pub availability: AvailabilitySettings,
    #[serde(deserialize_with = "object")]
    pub defaults: Defaults,
    /// Check id -> action; unlisted checks keep their default action.
    #[serde(deserialize_with = "enforcement")]
    pub enforcement: BTreeMap<CheckId, Action>,
    /// What a failed cluster look-up does (not-found is not a failure).
    pub lookup_failure: LookupFailure,
    /// What a warn-level finding does in a background audit, whose
    /// PolicyReport shows only pass or fail (see `admission`, `Mode::Audit`).
    pub audit_warnings: AuditWarnings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ServiceNameSettings {
    pub required: bool,
    pub must_exist: bool,
    pub must_be_headless: bool,
    pub must_select_pods: bool,
}

impl Default for ServiceNameSettings {
    fn default() -> Self {
        ServiceNameSettings {
            required: true,
            must_exist: true,
            must_be_headless: true,
            must_select_pods: true,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct StorageSettings {
    pub allowed_storage_classes: Vec<String>,
    pub denied_storage_classes: Vec<String>,
    pub require_storage_class: bool,
    pub storage_class_must_exist: bool,
    pub require_volume_expansion: bool,
    pub allowed_access_modes: Vec<AccessMode>,
    #[serde(deserialize_with = "optional_quantity")]
    pub min_size: Option<Quantity>,
    #[serde(deserialize_with = "optional_quantity")]
    pub max_size: Option<Quantity>,
    pub allowed_volume_modes: Vec<VolumeMode>,
    pub require_retain_policy: bool,
}

/// `"*"` in `allowedStorageClasses`: every class is allowed.
pub const ANY_STORAGE_CLASS: &str = "*";

impl StorageSettings {
    /// `"*"` is in `allowedStorageClasses`: every class is allowed.
    pub fn allows_any_class(&self) -> bool {
        self.allowed_storage_classes
            .iter()
            .any(|c| c == ANY_STORAGE_CLASS)
    }

    /// Whether a named class is acceptable to the allow and deny lists.
    pub fn class_acceptable(&self, class: &str) -> bool {
        if !self.allowed_storage_classes.is_empty() {
            return self.allows_any_class()
                || self.allowed_storage_classes.iter().any(|a| a == class);
        }
        !self.denied_storage_classes.iter().any(|d| d == class)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RolloutSettings {
    pub allowed_pod_management_policies: Vec<PodManagementPolicy>,
    pub allowed_update_strategies: Vec<UpdateStrategyType>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AvailabilitySettings {
    /// pdb-covers-pods and pdb-allows-disruption, which list the namespace's
    /// PodDisruptionBudgets: off by default, since policy-server's default
    /// permissions do not cover them.
    pub pod_disruption_budget: bool,
    /// pods-spread: the node labels a term may spread the replicas across;
    /// empty turns the check off.
    pub spread_topology_keys: Vec<String>,
}

/// The node label every node carries, one value per node.
pub const HOSTNAME_TOPOLOGY_KEY: &str = "kubernetes.io/hostname";

impl Default for AvailabilitySettings {
    fn default() -> Self {
        AvailabilitySettings {
            pod_disruption_budget: false,
            spread_topology_keys: vec![HOSTNAME_TOPOLOGY_KEY.to_string()],
        }
    }
}

/// Values the policy sets on CREATE (see `defaults`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Defaults {
    pub pod_management_policy: Option<PodManagementPolicy>,
    pub partition: Option<i64>,
    pub storage_class_name: Option<String>,
    #[serde(deserialize_with = "optional_object")]
    pub persistent_volume_claim_retention_policy: Option<RetentionPolicyDefaults>,
}

impl Defaults {
    pub fn any(&self) -> bool {
        self.pod_management_policy.is_some()
            || self.partition.is_some()
            || self.storage_class_name.is_some()
            || self.persistent_volume_claim_retention_policy.is_some()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RetentionPolicyDefaults {
    pub when_deleted: Option<RetentionAction>,
    pub when_scaled: Option<RetentionAction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LookupFailure {
    #[default]
    Deny,
    Warn,
}

/// `auditWarnings`: Kubewarden's audit scanner reports `pass` whenever the
/// policy accepts, so warnings never reach a PolicyReport; `fail` makes every
/// finding that would be a warning a failure, in background audits only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditWarnings {
    #[default]
    Pass,
    Fail,
}

/// Declares a Kubernetes enum whose settings spelling is its variant name.
macro_rules! kubernetes_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
        pub enum $name { $($variant,)+ }

        impl $name {
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant),)+ }
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}

kubernetes_enum!(AccessMode {
    ReadWriteOnce,
    ReadOnlyMany,
    ReadWriteMany,
    ReadWriteOncePod
});
kubernetes_enum!(VolumeMode { Filesystem, Block });
kubernetes_enum!(PodManagementPolicy {
    OrderedReady,
    Parallel
});
kubernetes_enum!(UpdateStrategyType {
    RollingUpdate,
    OnDelete
});
kubernetes_enum!(RetentionAction { Retain, Delete });

/// Whether `value` is listed, or the list is empty (no restriction).
pub fn permitted<T: AsRef<str>>(list: &[T], value: &str) -> bool {
    list.is_empty() || list.iter().any(|item| item.as_ref() == value)
}

fn optional_quantity<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Quantity>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        String(String),
        Number(serde_json::Number),
    }
    // Read as Kubernetes reads a quantity from JSON: the JSON text of the value,
    // surrounding whitespace trimmed.
    let json = match Option::<Text>::deserialize(deserializer)? {
        None => return Ok(None),
        Some(Text::String(s)) => serde_json::to_string(&s).map_err(serde::de::Error::custom)?,
        Some(Text::Number(n)) => n.to_string(),
    };
    Quantity::from_json(&json)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Reads `enforcement` with its keys as strings first, so that an error in an
/// action names its check (`enforcement.storage-size`), not `enforcement.?`.
fn enforcement<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<CheckId, Action>, D::Error> {
    BTreeMap::<String, Action>::deserialize(deserializer)?
        .into_iter()
        .map(
            |(id, action)| match CheckId::ALL.iter().find(|c| c.as_str() == id) {
                Some(check) => Ok((*check, action)),
                None => Err(serde::de::Error::custom(format!(
                    "unknown check id {}, expected one of {}",
                    quote(&id),
                    quoted_list(&CheckId::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>())
                ))),
            },
        )
        .collect()
}

impl Settings {
    /// Reads settings from their JSON form, naming the offending key on error.
    pub fn from_json(json: &[u8]) -> Result<Settings, String> {
        let mut de = serde_json::Deserializer::from_slice(json);
        // Whole: an object or null; a JSON array would otherwise be read by position.
        let parsed: Option<Whole<Settings>> =
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                if path == "." {
                    format!("settings: {}", e.inner())
                } else {
                    format!("settings.{path}: {}", e.inner())
                }
            })?;
        de.end().map_err(|e| format!("settings: {e}"))?;
        Ok(parsed.map(|Whole(settings)| settings).unwrap_or_default())
    }

    /// The action of a check: `enforcement`, else its default.
    pub fn action(&self, check: CheckId) -> Action {
        self.enforcement
            .get(&check)
            .copied()
            .unwrap_or(check.default_action())
    }

    /// Whether `check` runs: the setting that switches it on (where it has
    /// one) is set, and `enforcement` does not turn it off. The one answer to
    /// "does this check run?", for the look-ups, the checks and the
    /// validation of the defaults.
    pub fn runs(&self, check: CheckId) -> bool {
        let names = &self.service_name;
        let storage = &self.storage;
        let rollout = &self.rollout;
        let availability = &self.availability;
        let switched_on = match check {
            CheckId::ServiceNameRequired => names.required,
            CheckId::ServiceExists => names.must_exist,
            CheckId::ServiceHeadless => names.must_be_headless,
            CheckId::ServiceSelectsPods => names.must_select_pods,
            CheckId::StorageClassRequired => storage.require_storage_class,
            CheckId::StorageClassAllowed => {
                !storage.allowed_storage_classes.is_empty()
                    || !storage.denied_storage_classes.is_empty()
            }
            CheckId::StorageClassExists => storage.storage_class_must_exist,
            CheckId::StorageClassExpandable => storage.require_volume_expansion,
            CheckId::AccessModesAllowed => !storage.allowed_access_modes.is_empty(),
            CheckId::StorageSize => storage.min_size.is_some() || storage.max_size.is_some(),
            CheckId::VolumeModeAllowed => !storage.allowed_volume_modes.is_empty(),
            CheckId::PvcRetention => storage.require_retain_policy,
            CheckId::PodManagementPolicyAllowed => {
                !rollout.allowed_pod_management_policies.is_empty()
            }
            CheckId::UpdateStrategyAllowed => !rollout.allowed_update_strategies.is_empty(),
            CheckId::PdbCoversPods | CheckId::PdbAllowsDisruption => {
                availability.pod_disruption_budget
            }
            CheckId::PodsSpread => !availability.spread_topology_keys.is_empty(),
            CheckId::ServiceNameValid
            | CheckId::PartitionWithinReplicas
            | CheckId::VolumeMountsResolve
            | CheckId::ClaimsMounted
            | CheckId::ServiceInUse => true,
        };
        switched_on && self.action(check) != Action::Off
    }

    /// Refuses combinations that cannot be meant; every message names its key.
    pub fn validate(&self) -> Result<(), String> {
        let storage = &self.storage;
        if !storage.allowed_storage_classes.is_empty() && !storage.denied_storage_classes.is_empty()
        {
            return Err("storage.allowedStorageClasses and storage.deniedStorageClasses are mutually exclusive: set one of them".into());
        }
        if storage
            .denied_storage_classes
            .iter()
            .any(|c| c == ANY_STORAGE_CLASS)
        {
            return Err("storage.deniedStorageClasses: \"*\" is only meaningful in storage.allowedStorageClasses; to demand a named class use storage.requireStorageClass".into());
        }
        if let (Some(min), Some(max)) = (&storage.min_size, &storage.max_size) {
            if min > max {
                return Err(format!(
                    "storage.minSize ({min}) is larger than storage.maxSize ({max})"
                ));
            }
        }
        let keys = &self.availability.spread_topology_keys;
        if let Some((i, key)) = keys.iter().enumerate().find(|(_, k)| !is_qualified_name(k)) {
            return Err(format!(
                "availability.spreadTopologyKeys[{i}] {} is not a valid label key: an optional DNS subdomain prefix and '/', then at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric (e.g. kubernetes.io/hostname)",
                quote(key)
            ));
        }
        self.validate_defaults()
    }

    /// A default that the configured checks would refuse is a contradiction.
    fn validate_defaults(&self) -> Result<(), String> {
        let defaults = &self.defaults;
        if let Some(class) = &defaults.storage_class_name {
            if self.runs(CheckId::StorageClassAllowed) && !self.storage.class_acceptable(class) {
                let list = if self.storage.allowed_storage_classes.is_empty() {
                    format!(
                        "is denied by storage.deniedStorageClasses ({})",
                        quoted_list(&self.storage.denied_storage_classes)
                    )
                } else {
                    format!(
                        "is not in storage.allowedStorageClasses ({})",
                        quoted_list(&self.storage.allowed_storage_classes)
                    )
                };
                return Err(format!("defaults.storageClassName {} {list}", quote(class)));
            }
        }
        if let Some(policy) = defaults.pod_management_policy {
            let allowed = &self.rollout.allowed_pod_management_policies;
            if self.runs(CheckId::PodManagementPolicyAllowed)
                && !permitted(allowed, policy.as_str())
            {
                return Err(format!(
                    "defaults.podManagementPolicy {} is not in rollout.allowedPodManagementPolicies ({})",
                    policy.as_str(),
                    quoted_list(allowed)
                ));
            }
        }
        if let Some(partition) = defaults.partition {
            if !(0..=i64::from(i32::MAX)).contains(&partition) {
                return Err(format!(
                    "defaults.partition must be an integer from 0 to {}, got {partition}",
                    i32::MAX
                ));
            }
            let strategies = &self.rollout.allowed_update_strategies;
            if self.runs(CheckId::UpdateStrategyAllowed)
                && !permitted(strategies, UpdateStrategyType::RollingUpdate.as_str())
            {
                return Err("defaults.partition only applies to updateStrategy RollingUpdate, which rollout.allowedUpdateStrategies does not allow".into());
            }
        }
        if let Some(retention) = &defaults.persistent_volume_claim_retention_policy {
            let deletes = [
                ("whenDeleted", retention.when_deleted),
                ("whenScaled", retention.when_scaled),
            ]
            .into_iter()
            .find(|(_, action)| *action == Some(RetentionAction::Delete));
            if let Some((key, _)) = deletes {
                if self.runs(CheckId::PvcRetention) {
                    return Err(format!(
                        "defaults.persistentVolumeClaimRetentionPolicy.{key} is Delete, which storage.requireRetainPolicy refuses"
                    ));
                }
            }
        }
        Ok(())
    }
}
