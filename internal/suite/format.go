package suite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FileSpec is a suite file as written.
type FileSpec struct {
	// Name of the suite (default: the file name without .suite.yaml).
	Name        string `json:"name"`
	Description string `json:"description"`
	// Config is a config file path (relative to the suite file) or an
	// inline config (the same YAML as the file). Default: the test
	// command's --config, else the embedded default config.
	Config json.RawMessage `json:"config"`
	// ConfigOverrides are merged over the config (maps key by key,
	// anything else replaced), e.g. {policies: {owned_fields: {mode: warn}}}.
	ConfigOverrides map[string]any `json:"configOverrides"`
	// Policies are extra policy directories (relative to the suite file),
	// loaded in addition to the test command's policies.
	Policies []string `json:"policies"`
	// Now fixes the clock of drift records (RFC 3339), so patch values
	// can be compared exactly.
	Now   string            `json:"now"`
	Cases []json.RawMessage `json:"cases"`
}

// CaseSpec is one case as written.
type CaseSpec struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Skip, when set, is the reason the case is skipped.
	Skip string `json:"skip"`

	// Review is an AdmissionReview (admission.k8s.io/v1): a file path
	// (JSON or YAML, relative to the suite file) or inline.
	Review json.RawMessage `json:"review"`

	// Or the parts of a request. Operation defaults to UPDATE with both
	// objects, CREATE with object only, DELETE with oldObject only;
	// AUDIT evaluates drift rules only.
	Operation    string                       `json:"operation"`
	Object       json.RawMessage              `json:"object"`
	OldObject    json.RawMessage              `json:"oldObject"`
	ObjectPatch  json.RawMessage              `json:"objectPatch"`
	OldPatch     json.RawMessage              `json:"oldObjectPatch"`
	UserInfo     *authenticationv1.UserInfo   `json:"userInfo"`
	Options      map[string]any               `json:"options"`
	FieldManager string                       `json:"fieldManager"`
	Kind         *metav1.GroupVersionKind     `json:"kind"`
	Resource     *metav1.GroupVersionResource `json:"resource"`
	SubResource  string                       `json:"subResource"`
	Namespace    *string                      `json:"namespace"`
	// ObjectName is the request's name (name is the case's name).
	ObjectName *string `json:"objectName"`
	DryRun     *bool   `json:"dryRun"`
	UID        string  `json:"uid"`
	// ScaleParent is, for a scale subresource request, the Deployment
	// (StatefulSet, ReplicaSet) as the cluster stores it, managedFields
	// included: what serve --cluster reads (a file path or inline).
	ScaleParent json.RawMessage `json:"scaleParent"`
	// ScaleParentPatch is an RFC 6902 patch applied to ScaleParent.
	ScaleParentPatch json.RawMessage `json:"scaleParentPatch"`

	// Config and ConfigOverrides replace / extend the suite's for this case.
	Config          json.RawMessage `json:"config"`
	ConfigOverrides map[string]any  `json:"configOverrides"`

	Expect *Expect `json:"expect"`
}

// Expect is what a case expects. Only what is given is checked; an empty
// list ([]) means "none".
type Expect struct {
	// Allowed is the validating webhook's answer.
	Allowed *bool `json:"allowed"`
	// Message matches the answer's message (the denial).
	Message *Matcher `json:"message"`
	// Warnings: each must match some warning. [] means no warnings.
	Warnings []Matcher `json:"warnings"`
	// WarningCount is the exact number of warnings.
	WarningCount *int `json:"warningCount"`
	// Patch: each expected operation must be in the mutating webhook's
	// JSON patch (op and path equal; value when given). [] means no patch.
	Patch []PatchExpect `json:"patch"`
	// PatchCount is the exact number of patch operations.
	PatchCount *int `json:"patchCount"`
	// Decisions by policy: allow, deny, warn, break_glass, dryrun, error,
	// or skipped (the policy does not match the request's kind/operation).
	Decisions map[string]string `json:"decisions"`
	// Drift findings by policy, from the policy's drift rules evaluated on
	// the object as a live object. [] means no findings.
	Drift map[string][]FindingExpect `json:"drift"`
	// Error matches the error when the review itself cannot be evaluated.
	Error *Matcher `json:"error"`
}

func (e *Expect) empty() bool {
	return e.Allowed == nil && e.Message == nil && e.Warnings == nil && e.WarningCount == nil &&
		e.Patch == nil && e.PatchCount == nil && e.Decisions == nil && e.Drift == nil && e.Error == nil
}

func (e *Expect) admission() bool {
	return e.Allowed != nil || e.Message != nil || e.Warnings != nil || e.WarningCount != nil ||
		e.Patch != nil || e.PatchCount != nil || e.Decisions != nil || e.Error != nil
}

// PatchExpect is an expected JSON patch operation.
type PatchExpect struct {
	Op   string `json:"op"`
	Path string `json:"path"`
	// Value, when given, must equal the operation's value.
	Value json.RawMessage `json:"value,omitempty"`
	// ValueMatches matches the value when it is a string; otherwise its
	// JSON or any string inside it (e.g. the drift record in an added
	// annotations map).
	ValueMatches *Matcher `json:"valueMatches,omitempty"`
}

func (p PatchExpect) String() string {
	s := p.Op + " " + p.Path
	if len(p.Value) > 0 {
		s += " " + string(p.Value)
	}
	if p.ValueMatches != nil {
		s += " value " + p.ValueMatches.String()
	}
	return s
}

// FindingExpect is an expected drift finding.
type FindingExpect struct {
	Field string   `json:"field"`
	Owner string   `json:"owner"`
	Msg   *Matcher `json:"msg"`
}

func (f FindingExpect) String() string {
	var parts []string
	if f.Field != "" {
		parts = append(parts, "field "+f.Field)
	}
	if f.Owner != "" {
		parts = append(parts, "owner "+f.Owner)
	}
	if f.Msg != nil {
		parts = append(parts, "msg "+f.Msg.String())
	}
	if len(parts) == 0 {
		return "any finding"
	}
	return strings.Join(parts, ", ")
}

// Matcher matches a string: a plain YAML string means "contains"; an
// object may give contains, notContains, regex (each a string or a list)
// and equals. All given parts must hold.
type Matcher struct {
	Contains    []string `json:"contains,omitempty"`
	NotContains []string `json:"notContains,omitempty"`
	Regex       []string `json:"regex,omitempty"`
	Equals      *string  `json:"equals,omitempty"`
	res         []*regexp.Regexp
}

type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = []string{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return errors.New("must be a string or a list of strings")
	}
	*l = ss
	return nil
}

// UnmarshalJSON reads a string or {contains, regex, equals}.
func (m *Matcher) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = Matcher{Contains: []string{s}}
		return m.compile()
	}
	var raw struct {
		Contains    stringList `json:"contains"`
		NotContains stringList `json:"notContains"`
		Regex       stringList `json:"regex"`
		Equals      *string    `json:"equals"`
	}
	if err := strictJSON(b, &raw); err != nil {
		return fmt.Errorf("a matcher is a string (substring) or {contains, notContains, regex, equals}: %w", err)
	}
	*m = Matcher{Contains: raw.Contains, NotContains: raw.NotContains, Regex: raw.Regex, Equals: raw.Equals}
	if len(m.Contains)+len(m.NotContains)+len(m.Regex) == 0 && m.Equals == nil {
		return errors.New("a matcher needs contains, notContains, regex or equals")
	}
	return m.compile()
}

func (m *Matcher) compile() error {
	m.res = m.res[:0]
	for _, r := range m.Regex {
		re, err := regexp.Compile(r)
		if err != nil {
			return fmt.Errorf("regex %q: %w", r, err)
		}
		m.res = append(m.res, re)
	}
	return nil
}

// Match reports whether s matches every part of the matcher.
func (m *Matcher) Match(s string) bool {
	if m.Equals != nil && s != *m.Equals {
		return false
	}
	for _, c := range m.Contains {
		if !strings.Contains(s, c) {
			return false
		}
	}
	for _, c := range m.NotContains {
		if strings.Contains(s, c) {
			return false
		}
	}
	if len(m.res) != len(m.Regex) {
		_ = m.compile()
	}
	for _, re := range m.res {
		if !re.MatchString(s) {
			return false
		}
	}
	return true
}

func (m *Matcher) String() string {
	var parts []string
	if m.Equals != nil {
		parts = append(parts, fmt.Sprintf("equals %q", *m.Equals))
	}
	for _, c := range m.Contains {
		parts = append(parts, fmt.Sprintf("contains %q", c))
	}
	for _, c := range m.NotContains {
		parts = append(parts, fmt.Sprintf("does not contain %q", c))
	}
	for _, r := range m.Regex {
		parts = append(parts, fmt.Sprintf("matches /%s/", r))
	}
	return strings.Join(parts, " and ")
}

// strictJSON decodes one JSON value, rejecting unknown fields.
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return cleanJSONError(err)
	}
	return nil
}

// cleanJSONError turns encoding/json's Go-flavoured messages into ones
// that name the YAML field.
func cleanJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "value"
		}
		want := te.Type.String()
		switch {
		case strings.HasPrefix(want, "map["), strings.HasPrefix(want, "v1."), strings.HasPrefix(want, "suite."), strings.HasPrefix(want, "*"):
			want = "an object"
		case strings.HasPrefix(want, "[]"):
			want = "a list"
		}
		return fmt.Errorf("%s: got a %s, want %s", field, te.Value, want)
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return errors.New(msg)
}
