package input

import "strings"

// Workload facts (input.workload): the containers of a workload's pod
// spec and the parts of their images, found here in Go so that policies
// do not walk the pod spec in Rego. Reading a container list in Rego
// converts the whole list to Rego values, and splitting an image
// reference takes some thirty Rego expressions; here both cost
// microseconds. The bundled library (lib.workloads, lib.images) reads
// these facts when they are present and computes the same values in
// Rego when they are not (hand-written inputs in Rego unit tests).
//
// The facts are left out whenever the Rego computation could differ or
// fail: a pod spec, container list or container that is not what the
// API server serves (not an object, not a list, a container without a
// string name, two containers with one key). The policies then compute
// what they always did, error included.

// workloadSpecPaths: where the pod spec of each workload kind lives, in
// change-path notation (lib.workloads.spec_path).
var workloadSpecPaths = map[string]string{
	"Pod":         "spec",
	"Deployment":  "spec.template.spec",
	"StatefulSet": "spec.template.spec",
	"DaemonSet":   "spec.template.spec",
	"ReplicaSet":  "spec.template.spec",
	"Job":         "spec.template.spec",
	"CronJob":     "spec.jobTemplate.spec.template.spec",
}

// containerTypes are the container lists of a pod spec
// (lib.workloads.container_types).
var containerTypes = [...]string{"initContainers", "containers", "ephemeralContainers"}

// defaultContainerAnnotation names a pod template's main container
// (kubectl's default container).
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// workloadDoc is input.workload for a request of this kind, nil when the
// kind has no pod spec or a fact could not be found exactly as the
// library's Rego would find it.
func workloadDoc(kind string, obj, old map[string]any, changes []Change) map[string]any {
	specPath, ok := workloadSpecPaths[kind]
	if !ok || (obj == nil && old == nil) {
		return nil
	}
	images := map[string]any{}
	containers, ok := containersOf(specPath, obj, images)
	if !ok {
		return nil
	}
	oldContainers, ok := containersOf(specPath, old, images)
	if !ok {
		return nil
	}
	w := map[string]any{
		"specPath":      specPath,
		"containers":    containers,
		"oldContainers": oldContainers,
		"images":        images,
		"structural":    structuralChange(specPath, changes),
	}
	if specPath == "spec.template.spec" {
		if main := mainContainer(obj); main != "" {
			w["main"] = main
		}
	}
	return w
}

// containersOf is lib.workloads.new_containers (or old_containers) of
// obj: {"<list>[<name>]": {type, name, path, c}}, adding each string
// image's parts to images. ok is false when the Rego might see
// something else.
func containersOf(specPath string, obj map[string]any, images map[string]any) (map[string]any, bool) {
	out := map[string]any{}
	if obj == nil {
		return out, true
	}
	spec, ok := lookupMap(obj, strings.Split(specPath, "."))
	if !ok {
		return nil, false
	}
	if spec == nil { // no pod spec: object.get's default, {}
		return out, true
	}
	for _, t := range containerTypes {
		raw, present := spec[t]
		if !present {
			continue
		}
		list, ok := raw.([]any)
		if !ok {
			return nil, false
		}
		for _, item := range list {
			c, ok := item.(map[string]any)
			if !ok {
				return nil, false
			}
			name, ok := c["name"].(string)
			if !ok {
				return nil, false
			}
			key := t + "[" + name + "]"
			if _, dup := out[key]; dup {
				return nil, false
			}
			out[key] = map[string]any{"type": t, "name": name, "path": specPath + "." + key, "c": c}
			if image, ok := c["image"].(string); ok {
				if _, seen := images[image]; !seen {
					images[image] = ParseImage(image).doc()
				}
			}
		}
	}
	return out, true
}

// structuralChange is lib.workloads.structural_change: a change replaces
// the pod spec or something above it, or adds, removes or replaces a
// whole container or container list (a path that ends at a list or at a
// container, not inside one).
func structuralChange(specPath string, changes []Change) bool {
	prefix := specPath + "."
	for _, c := range changes {
		if strings.HasPrefix(prefix, c.Path+".") {
			return true
		}
		for _, t := range containerTypes {
			if rest, ok := strings.CutPrefix(c.Path, prefix+t); ok && !strings.Contains(rest, "].") {
				return true
			}
		}
	}
	return false
}

// lookupMap walks keys down obj: the map at the end, nil (and ok) when a
// key is missing on the way, not ok when something on the way is not a
// map (the Rego's object.get would not give its default there).
func lookupMap(obj map[string]any, keys []string) (map[string]any, bool) {
	cur := obj
	for _, k := range keys {
		v, present := cur[k]
		if !present {
			return nil, true
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		cur = m
	}
	return cur, true
}

// mainContainer is the key of obj's pod template's main container: the
// container the default-container annotation names, else the first one
// ("" when the template has no containers or something is unusual).
func mainContainer(obj map[string]any) string {
	tmpl, ok := lookupMap(obj, []string{"spec", "template"})
	if !ok || tmpl == nil {
		return ""
	}
	spec, ok := tmpl["spec"].(map[string]any)
	if !ok {
		return ""
	}
	list, ok := spec["containers"].([]any)
	if !ok || len(list) == 0 {
		return ""
	}
	if md, ok := tmpl["metadata"].(map[string]any); ok {
		if ann, ok := md["annotations"].(map[string]any); ok {
			if want, ok := ann[defaultContainerAnnotation].(string); ok {
				for _, item := range list {
					if c, ok := item.(map[string]any); ok && c["name"] == want {
						return "containers[" + want + "]"
					}
				}
			}
		}
	}
	first, ok := list[0].(map[string]any)
	if !ok {
		return ""
	}
	name, ok := first["name"].(string)
	if !ok {
		return ""
	}
	return "containers[" + name + "]"
}

// ImageRef is a container image reference split as lib.images.parse
// splits it: "localhost:5000/app:1.0@sha256:abc" has registry
// "localhost:5000", repository "app", tag "1.0" and digest "sha256:abc";
// a part it lacks is "". Like the Rego, it does not normalise (no
// docker.io, no library/).
type ImageRef struct {
	Registry, Repository, Tag, Digest string
}

// ParseImage splits ref exactly as lib.images.parse does.
func ParseImage(ref string) ImageRef {
	var r ImageRef
	name := ref
	if i := strings.Index(ref, "@"); i >= 0 {
		name, r.Digest = ref[:i], ref[i+1:]
	}
	rest := name
	if parts := strings.Split(name, "/"); len(parts) > 1 && registryHost(parts[0]) {
		r.Registry, rest = parts[0], strings.Join(parts[1:], "/")
	}
	r.Repository = rest
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		r.Repository, r.Tag = rest[:i], rest[i+1:]
	}
	return r
}

func registryHost(h string) bool {
	return strings.Contains(h, ".") || strings.Contains(h, ":") || h == "localhost"
}

func (r ImageRef) doc() map[string]any {
	return map[string]any{"registry": r.Registry, "repository": r.Repository, "tag": r.Tag, "digest": r.Digest}
}
