//! The metadata embedded in the built policy module is policy-metadata.yml,
//! completed as `kwctl annotate` completes it.
//!
//! Module: `$POLICY_MODULE`, default the repository root's `annotated-policy.wasm`.

mod common;

use policy_host::metadata::{read_metadata, ANNOTATION_ANNOTATED_BY, ANNOTATION_USAGE};
use policy_host::PolicyMetadata;

use common::{policy_module, repository_root};

#[test]
fn the_embedded_metadata_is_policy_metadata_yml() {
    let root = repository_root();
    let source = std::fs::read_to_string(root.join("policy-metadata.yml")).expect("metadata");
    let expected = PolicyMetadata::from_yaml_str(&source).expect("policy-metadata.yml parses");
    let embedded = read_metadata(&policy_module())
        .expect("the module's sections read")
        .expect("the module carries io.kubewarden.metadata");

    // Completed by annotation: the protocol the module itself answers.
    assert_eq!(embedded.protocol_version.as_deref(), Some("v1"));
    // Taken over unchanged.
    assert_eq!(embedded.rules, expected.rules);
    assert_eq!(embedded.mutating, expected.mutating);
    assert_eq!(embedded.background_audit, expected.background_audit);
    assert_eq!(embedded.execution_mode, expected.execution_mode);
    assert_eq!(embedded.policy_type, expected.policy_type);
    assert_eq!(
        embedded.context_aware_resources,
        expected.context_aware_resources
    );
    assert_eq!(
        embedded.other.get("hostCapabilities"),
        expected.other.get("hostCapabilities")
    );

    // Every annotation of the file, plus the usage (this README) and the annotating tool.
    let mut annotations = embedded.annotations.expect("annotations");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    assert_eq!(
        annotations.remove(ANNOTATION_USAGE).as_deref(),
        Some(readme.as_str())
    );
    let tool = annotations
        .remove(ANNOTATION_ANNOTATED_BY)
        .expect("annotated-by");
    assert!(tool.starts_with("policy-host "), "{tool}");
    assert_eq!(Some(annotations), expected.annotations);
}
