// Package ctl implements calicoctl: reading resources from files (multi-
// document YAML or JSON, directories, stdin), validating every document
// before anything is written, and the get/create/apply/replace/delete/
// patch/label/validate/version commands, with kubectl-style flags and
// output formats.
package ctl
