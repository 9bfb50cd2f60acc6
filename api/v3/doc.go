// Package v3 defines the projectcalico.org/v3 resource model: the Go types for
// every Calico kind, their registration in a runtime.Scheme, the registry of kind
// names and aliases that the CLI and the datastore client resolve, the defaulting
// applied by every writer (Default), and the well-known labels, annotations and
// built-in names other packages rely on.
//
// The JSON field names follow Calico's so that existing projectcalico.org/v3 YAML
// loads unchanged. Most kinds are CustomResourceDefinitions generated from the
// kubebuilder markers in this package (see hack/update-codegen.sh); Profile and
// WorkloadEndpoint are Go types only, synthesised from Namespaces, ServiceAccounts
// and Pods and never stored.
//
// Validation that a schema cannot express lives in the validation subpackage.
//
// +kubebuilder:object:generate=true
// +groupName=projectcalico.org
package v3
