// Package findings lists the current drift findings of a cluster, one
// row per finding of one policy on one object (kind, namespace, name,
// policy, field, owner, since when, message): what `driftguard drift`
// prints.
//
// The findings come from one of two sources:
//
//   - the OpenReports objects driftguard's audit writes (a Report named
//     report.Name in each namespace with findings, and a ClusterReport of
//     that name for cluster-scoped ones), read back with report.FindingOf;
//     a report whose cap left findings out says how many (report.Omitted);
//   - the live objects themselves (--live): the config's audit kinds are
//     listed from the API server and run through the policies' drift
//     rules with audit.Evaluate, exactly as the audit of `serve --cluster`
//     does, so no reports (and no running driftguard) are needed.
//
// Neither source ever shows a field's value: a finding names the field
// and its owner, and the policy's message.
package findings
