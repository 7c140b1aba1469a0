// Package standin holds small reconcilers that stand in, in the e2e
// suite, for controllers the Go module proxy does not serve. They are
// test doubles of one behaviour each, named as such, never shipped.
//
// Metacontroller is a stand-in for metacontroller's CompositeController
// with the InPlace child update strategy, as the Kubeflow profile
// controller uses it: for every Namespace with a profile label it renders
// a child Deployment whose image comes from a ConfigMap, and it sets the
// child back (server-side apply, field manager "metacontroller", forced)
// whenever someone changes it. It is not metacontroller: no hooks, no
// CRDs, one child.
package standin
