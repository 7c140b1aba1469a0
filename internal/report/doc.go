// Package report turns an audit pass's findings into OpenReports objects
// (openreports.io/v1alpha1 Report per namespace, ClusterReport for
// cluster-scoped findings) and reads them back, so that a drift gauge can
// be traced to the object, field and owner behind it.
//
// One result is one finding of one policy on one object: the object in
// resources, the policy in policy, the field and owner in properties, the
// policy's message in message, and the time the finding was first seen in
// timestamp. A report holds at most a configured number of results; its
// summary counts every finding.
package report
