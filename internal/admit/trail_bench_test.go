package admit_test

import "testing"

// allowedReview is the 8 KB Deployment UPDATE as Terraform's own identity
// writes it (the fields it owns, the version label matching the image):
// allowed with nothing to warn about.
func allowedReview(t testing.TB) []byte {
	return review(t, func(req map[string]any) {
		setUser(req, "system:serviceaccount:infra:terraform", "system:serviceaccounts")
		tmpl := req["object"].(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)
		tmpl["metadata"].(map[string]any)["labels"].(map[string]any)["version"] = "1.1.0"
	})
}

// BenchmarkValidateAllowed8K is BenchmarkValidateDeploymentUpdate8K for
// a plain allow: the path the decision trail must not make dearer.
func BenchmarkValidateAllowed8K(b *testing.B) {
	e := newEnv(b, "")
	body := allowedReview(b)
	b.ReportAllocs()
	serveLoop(b, e.validate, "/validate", body)
}
