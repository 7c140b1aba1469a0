package loader_test

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

func metav1GVK(g, v, k string) metav1.GroupVersionKind {
	return metav1.GroupVersionKind{Group: g, Version: v, Kind: k}
}
