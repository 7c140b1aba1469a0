// Package loader builds the serving state (config, input builder,
// compiled policies) from files, a parsed config and the embedded
// defaults, and reloads it when the files change, keeping the last good
// state on failure. A policy directory that holds the bundled policies'
// files replaces the embedded copy (PolicyOptions).
package loader
