// Package deploycheck holds no code: its tests validate the files in deploy/, and the
// configuration examples in README.md, with each ecosystem's own loader or tool — the Compose
// specification's loader, strict decoding into the Kubernetes API types, promtool, amtool and
// systemd-analyze — so an example that would not load, or a route that would take alerts away
// from the pager, fails the build instead of a user's deployment.
//
// It is a package of its own so that those large test-only dependencies (compose-go, k8s.io/api)
// are compiled for these tests alone, never into postmortemd nor into other packages' tests.
package deploycheck
